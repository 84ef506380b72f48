"""Metrics of groups of evaluated users; the popularity split of the Laser paper's cold-start study.

An item is *cold* when its number of training interactions is in the bottom 35% of all items' counts
(the paper's rule, after Kim et al. 2024). Items with equal counts always fall on the same side, so the
share can only be met approximately: the threshold is the count t for which the share of items with a
count of at most t is nearest 35% (the lower t on a tie), and every item with a count of at most t is
cold. A test user is in the cold group when their target is cold.
"""

from __future__ import annotations

import numpy as np
import torch

from laserrec.data.dataset import interaction_counts
from laserrec.evaluation.metrics import metrics_from_ranks

COLD_SHARE = 0.35


def cold_threshold(counts: np.ndarray, share: float = COLD_SHARE) -> int:
    """The largest training count of a cold item. Input: counts (n_items + 1,), index 0 = padding."""
    values, items = np.unique(counts[1:], return_counts=True)  # distinct counts, ascending
    shares = np.cumsum(items) / items.sum()  # share of items with a count of at most each value
    return int(values[np.argmin(np.abs(shares - share))])


def cold_items(counts: np.ndarray, share: float = COLD_SHARE) -> np.ndarray:
    """Which item ids are cold. Input: training counts (n_items + 1,), index 0 = padding.
    Output: bool (n_items + 1,), index 0 False."""
    return np.concatenate([[False], counts[1:] <= cold_threshold(counts, share)])


def popularity_groups(split, share: float = COLD_SHARE, name: str = "test") -> dict[str, np.ndarray]:
    """``{"cold": mask, "warm": mask}`` over the users of ``split.eval_set(name)``, by their target."""
    cold = cold_items(interaction_counts(split.train, split.n_items), share)
    targets = split.eval_set(name).targets
    return {"cold": cold[targets], "warm": ~cold[targets]}


def grouped_metrics(ranks, groups: dict[str, np.ndarray], ks=(5, 10, 20)) -> dict[str, dict]:
    """Metrics of every group (and "all") from 0-based ranks; each with its number of users."""
    ranks = torch.as_tensor(np.asarray(ranks))
    out = {"all": {**metrics_from_ranks(ranks, list(ks)), "users": len(ranks)}}
    for group, mask in groups.items():
        chosen = ranks[torch.from_numpy(np.asarray(mask, dtype=bool))]
        found = metrics_from_ranks(chosen, list(ks)) if len(chosen) else {}
        out[group] = {**found, "users": int(len(chosen))}
    return out


def popularity_rule(split, share: float = COLD_SHARE) -> dict:
    """What the cold/warm split of ``split`` came to: the share asked for, the count threshold, how many
    items are cold."""
    counts = interaction_counts(split.train, split.n_items)
    return {
        "cold_share": share,
        "threshold_count": cold_threshold(counts, share),
        "cold_items": int(cold_items(counts, share).sum()),
        "items": split.n_items,
    }
