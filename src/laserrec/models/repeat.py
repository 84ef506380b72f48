"""Which candidates a user already has, for the repeat offset (``repeat_bias``, not in the papers).

The offset is one learned scalar b taken off the score of every item in the user's history: how likely
the next item is one the user already has, learned from the training targets (RepeatNet's
repeat-or-explore choice in its simplest form). Laser, SASRec and BERT4Rec each hold it as an option, so
Laser's can be measured against ID models that have the same mechanism.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from laserrec.config import Options, check, field


@dataclass
class RepeatOptions(Options):
    """The offset's options on the ID models (Laser's own config holds the same two)."""

    repeat_bias: bool = field(
        False,
        "not in the paper: a learned offset off the score of every item the user already has",
    )
    repeat_init: float = field(0.0, "b's value before training (with repeat_bias), in score units")


def check_repeat(config) -> None:
    """The options' one rule (every model's config with ``repeat_bias`` and ``repeat_init``)."""
    check(config.repeat_bias or config.repeat_init == 0, "repeat_init needs repeat_bias=true")


def repeat_parameter(config) -> nn.Parameter | None:
    """b, starting at ``config.repeat_init``, when ``config.repeat_bias`` is on (None otherwise)."""
    return nn.Parameter(torch.tensor(float(config.repeat_init))) if config.repeat_bias else None


def take_offset(
    scores: torch.Tensor,
    history: torch.Tensor,
    bias: torch.Tensor | None,
    n_items: int,
    ids: torch.Tensor | None = None,
    scale: float = 1.0,
) -> torch.Tensor:
    """Scores (B, U) of items ``ids`` (None: the catalog, U = n_items) less scale * b where the item is in
    the user's history (B, T); unchanged when ``bias`` is None (the offset off)."""
    if bias is None:
        return scores
    return scores - in_history(history, ids, n_items) * (scale * bias)


def in_history(history: torch.Tensor, ids: torch.Tensor | None, n_items: int) -> torch.Tensor:
    """Whether each candidate is in each user's history. Input: history (B, T) ids, 0 = padding; ids (U,)
    (None: items 1..n_items, U = n_items). Output: (B, U) bool."""
    seen = torch.zeros(history.shape[0], n_items + 1, dtype=torch.bool, device=history.device)
    seen = seen.scatter_(1, history, True)
    return seen[:, 1:] if ids is None else seen[:, ids]


def first_seen(sequence: torch.Tensor, n_items: int) -> torch.Tensor:
    """The first position of each item in each sequence, for the per-position history of sequence-mode
    training. Input: (B, T) ids, 0 = padding. Output: (B, n_items) positions, T where an item is absent."""
    b, t = sequence.shape
    positions = torch.arange(t, device=sequence.device).expand(b, t)
    first = torch.full((b, n_items + 1), t, device=sequence.device)
    return first.scatter_reduce_(1, sequence, positions, "amin")[:, 1:]
