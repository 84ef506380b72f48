"""Ranking metrics from the target's rank. Pure functions, tested against hand-worked numbers.

Tie rule (pessimistic): the target is ranked *after* every other item with the same score, so
``rank = #{i != target : s_i >= s_target}`` (0-based). A model that scores everything equal gets the
worst rank, never a lucky first place.
"""

from __future__ import annotations

import math

import torch


def target_ranks(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """0-based rank of each target under the pessimistic tie rule.

    Input shape: scores (B, n_items + 1) with column 0 = padding (any value; it is never ranked),
    targets (B,) ids in 1..n_items. Output shape: (B,) int64.
    """
    scores = torch.nan_to_num(scores.float(), nan=float("-inf"))  # a NaN never beats the target
    target_scores = scores.gather(1, targets[:, None])  # (B, 1)
    at_least = scores[:, 1:] >= target_scores  # (B, n_items), padding column dropped
    # the target itself is counted once by >=; remove it
    return at_least.sum(dim=1) - 1


def mask_history(scores: torch.Tensor, history: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Set scores of items already in the history to -inf, except the target itself.

    Input shape: scores (B, n_items + 1), history (B, T) left-padded ids, targets (B,).
    Output: a new (B, n_items + 1) tensor.
    """
    out = scores.clone()
    target_scores = out.gather(1, targets[:, None])
    out.scatter_(1, history, float("-inf"))
    out.scatter_(1, targets[:, None], target_scores)
    return out


def metrics_from_ranks(ranks: torch.Tensor, ks: list[int]) -> dict[str, float]:
    """Recall@K (= HR@K with one target), NDCG@K and full MRR from 0-based ranks."""
    r = ranks.double()
    out: dict[str, float] = {}
    for k in ks:
        hit = r < k
        out[f"recall@{k}"] = hit.double().mean().item()
        out[f"ndcg@{k}"] = torch.where(hit, 1.0 / torch.log2(r + 2.0), torch.zeros_like(r)).mean().item()
    out["mrr"] = (1.0 / (r + 1.0)).mean().item()
    return out


def ndcg_single(rank: int) -> float:
    """NDCG of one target at 0-based ``rank`` (no cut-off)."""
    return 1.0 / math.log2(rank + 2)
