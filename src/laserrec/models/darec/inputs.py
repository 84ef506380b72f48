"""DARec's input rows and its context mask (pure functions).

A row is ``[CF tokens | item 1 tokens | ... | item N tokens | trail | READ]``, left-padded: the collaborative
vectors (user, then one per history item) come first, each item's text is ``"\\n>> k. <title> (brand...)"``
and the learned READ token is last; its final hidden state is the user representation.

The mask lets a query at position q see key k when k is a real token and
``k <= q`` (causal) or k is a collaborative token (visible to every token) or q and k belong to the same item
(context masking: bidirectional inside an item). Padding sees only itself; every position sees itself, so no
softmax row is empty.
"""

from __future__ import annotations

import numpy as np
import torch

PAD, TEXT, CF, READ = 0, 1, 2, 3


def layout(
    rows: list[list[list[int]]], n_cf: list[int], trail: list[int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token ids, kinds and item segments of a left-padded batch.

    Input: per row the token ids of each history item (oldest first), the number of CF tokens per row,
    token ids closing every row (e.g. [SEP]; may be empty).
    Output: ids (B, T) (0 at CF, READ and padding), kinds (B, T) in PAD/TEXT/CF/READ, segments (B, T)
    = k at the tokens of the k-th item of the row, 0 elsewhere.
    """
    lengths = [c + sum(len(i) for i in items) + len(trail) + 1 for items, c in zip(rows, n_cf, strict=True)]
    width = max(lengths)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    kinds = np.full((len(rows), width), PAD, dtype=np.int64)
    segments = np.zeros((len(rows), width), dtype=np.int64)
    for b, (items, c) in enumerate(zip(rows, n_cf, strict=True)):
        p = width - lengths[b]
        kinds[b, p : p + c] = CF
        p += c
        for k, tokens in enumerate(items, start=1):
            ids[b, p : p + len(tokens)] = tokens
            kinds[b, p : p + len(tokens)] = TEXT
            segments[b, p : p + len(tokens)] = k
            p += len(tokens)
        ids[b, p : p + len(trail)] = trail
        kinds[b, p : p + len(trail)] = TEXT
        kinds[b, -1] = READ
    return torch.from_numpy(ids), torch.from_numpy(kinds), torch.from_numpy(segments)


def context_mask(kinds: torch.Tensor, segments: torch.Tensor, bidirectional: bool = True) -> torch.Tensor:
    """Which key each query may attend to.

    Input: kinds (B, T), segments (B, T) as from ``layout``. Output: (B, T, T) bool, [b, q, k] True = allowed.
    """
    t = kinds.shape[1]
    allowed = torch.ones(t, t, dtype=torch.bool, device=kinds.device).tril().expand(kinds.shape[0], t, t)
    allowed = allowed | (kinds == CF)[:, None, :]
    if bidirectional:
        same = segments[:, :, None] == segments[:, None, :]  # (B, T, T)
        allowed = allowed | (same & (segments > 0)[:, None, :])
    real = kinds != PAD
    allowed = allowed & real[:, None, :] & real[:, :, None]
    return allowed | torch.eye(t, dtype=torch.bool, device=kinds.device)


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Input: (B, T, T) bool. Output: (B, 1, T, T) of ``dtype``: 0 where allowed, dtype-min elsewhere."""
    mask = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(
        ~allowed, torch.finfo(dtype).min
    )
    return mask[:, None]  # (B, 1, T, T)


def positions(kinds: torch.Tensor) -> torch.Tensor:
    """Position ids (B, T) counting 0..n-1 over the real tokens only (padding stays at 0)."""
    real = (kinds != PAD).long()
    return (real.cumsum(1) - 1).clamp(min=0)
