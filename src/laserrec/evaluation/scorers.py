"""Rankers that need no training, evaluated by the common evaluator like any trained model: most popular,
the text-only floor (``floors.py``), and a late fusion of a trained ID model's scores with the text floor's.

Each is a ``Recommender`` whose ``full_sort_predict`` gives (B, n_items + 1) scores, column 0 = padding.
"""

from __future__ import annotations

import numpy as np
import torch

from laserrec.evaluation.evaluator import evaluate
from laserrec.evaluation.floors import text_users
from laserrec.models.base import Batch, Recommender

TEXT_WINDOW = 50  # history items the text floor averages (0.5 ** age leaves the older ones ~0 weight)
FUSION_WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


def training_counts(train: list[np.ndarray], n_items: int) -> np.ndarray:
    """Interactions per item id in the training sequences. Output: (n_items + 1,), index 0 = 0."""
    flat = np.concatenate(train) if train else np.zeros(0, dtype=np.int64)
    counts = np.bincount(flat, minlength=n_items + 1)
    counts[0] = 0
    return counts


class MostPopular(Recommender):
    """Every user gets the same ranking: items by their number of training interactions."""

    def __init__(self, counts: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("counts", torch.as_tensor(counts, dtype=torch.float32))

    @property
    def history_len(self) -> int:
        return 1

    def full_sort_predict(self, batch: Batch) -> torch.Tensor:
        scores = self.counts.expand(len(batch), -1).clone()  # (B, n_items + 1)
        scores[:, 0] = float("-inf")
        return scores


class TextFloor(Recommender):
    """The text-only floor: cosine between the recency-weighted mean of the history's item embeddings and
    every item's. Input: unit item embeddings (n_items + 1, H), row 0 zero."""

    def __init__(self, text: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("text", text.float())

    @property
    def history_len(self) -> int:
        return TEXT_WINDOW

    def full_sort_predict(self, batch: Batch) -> torch.Tensor:
        hist = [row[row > 0].numpy() for row in batch.history]
        scores = text_users(hist, self.text, TEXT_WINDOW) @ self.text.T  # (B, n_items + 1)
        scores[:, 0] = float("-inf")
        return scores


def standardised(scores: torch.Tensor) -> torch.Tensor:
    """Each row's real items (columns 1..) to zero mean and unit variance; column 0 = -inf.
    Input/output shape: (B, n_items + 1)."""
    real = scores[:, 1:]
    z = (real - real.mean(1, keepdim=True)) / real.std(1, keepdim=True).clamp_min(1e-12)
    return torch.cat([torch.full_like(scores[:, :1], float("-inf")), z], dim=1)


class LateFusion(Recommender):
    """``z(ID model's scores) + weight * z(text floor's scores)``, each standardised over the catalog per
    user — the simplest blend of the collaborative and the text signal."""

    def __init__(self, id_model: Recommender, text: TextFloor, weight: float) -> None:
        super().__init__()
        self.id_model, self.text_floor, self.weight = id_model, text, weight

    @property
    def history_len(self) -> int:
        return max(self.id_model.history_len, self.text_floor.history_len)

    def prepare_for_eval(self) -> None:
        self.id_model.prepare_for_eval()

    def full_sort_predict(self, batch: Batch) -> torch.Tensor:
        id_batch = Batch(batch.history[:, -self.id_model.history_len :], batch.target)
        scores = standardised(self.id_model.full_sort_predict(id_batch).float())
        if self.weight:
            scores = scores + self.weight * standardised(self.text_floor.full_sort_predict(batch))
        return scores


def tune_fusion(
    id_model: Recommender, text: TextFloor, valid, metric: str = "ndcg@10", weights=FUSION_WEIGHTS
) -> tuple[float, dict[float, float]]:
    """The text weight with the best validation ``metric`` (the first on ties) and every weight's score."""
    scores = {}
    for w in weights:
        found, _ = evaluate(LateFusion(id_model, text, w), valid, TEXT_WINDOW, (10,), 1024, progress=False)
        scores[w] = found[metric]
    return max(scores, key=lambda w: (scores[w], -w)), scores
