"""Laser's ``distill`` term (not in the paper): KL from the frozen ID model's ranking (with
``distill_unseen``, none of its mass on the user's history)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from laserrec.models.repeat import in_history


def distill_kl(
    teacher: torch.Tensor,
    logits: torch.Tensor,
    ids: torch.Tensor | None,
    seen: torch.Tensor | None = None,
) -> torch.Tensor:
    """KL(ID model || Laser), averaged over users.

    Input: the ID model's scores of every item (B, N + 1; column 0 = padding) — its own scores, dot
    products for SASRec, not their cosine — and Laser's logits cos / tau (B, U) over the items ``ids``
    (U,) (None: the whole catalog, U = N). The teacher is the softmax of the scores over the same U
    items; ``seen`` (B, T; 0 = padding) are items given no teacher mass (the history).
    """
    teacher = teacher[:, 1:]  # (B, N)
    if seen is not None:  # not -inf: 0 * inf in the KL is nan
        teacher = teacher.masked_fill(in_history(seen, None, teacher.shape[1]), -1e4)
    teacher = teacher if ids is None else teacher[:, ids - 1]
    return F.kl_div(
        F.log_softmax(logits, -1), F.log_softmax(teacher, -1), log_target=True, reduction="batchmean"
    )
