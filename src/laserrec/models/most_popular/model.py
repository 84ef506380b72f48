"""Most popular: every user gets the same ranking, the items by their number of training interactions.

The floor any recommender must clear (Recall@10 0.026 on scientific_lcrec in the design brief). Fitted
with no gradient step (``laserrec train --model most_popular``): the counts are taken from the training
part of the leave-one-out split, so a validation or test item counts for nothing.

- An item added later (``add_items``) has no interaction: its count is 0, below every trained item with
  one, so it is recommended only once every item with a count is (or through ``candidates``/``where``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from laserrec.data.dataset import ItemText, interaction_counts
from laserrec.models.base import Batch, Recommender
from laserrec.models.most_popular.config import MostPopularConfig


class MostPopular(Recommender):
    gradient_steps = False  # counted once (fit_statistics)

    def __init__(self, config: MostPopularConfig, n_items: int) -> None:
        super().__init__()
        self.config, self.n_items = config, n_items
        self.register_buffer("counts", torch.zeros(n_items + 1))  # (n_items + 1,), index 0 = padding

    @property
    def history_len(self) -> int:
        return 1  # the history changes nothing; one item keeps the batches small

    def fit_statistics(self, train: list[np.ndarray], validate: Callable[[], float]) -> dict:
        counts = interaction_counts(train, self.n_items)
        self.counts = torch.as_tensor(counts, dtype=torch.float32, device=self.counts.device)
        return {}

    def add_items(self, texts: list[ItemText]) -> None:
        """Items n_items + 1, ...: no interaction, count 0."""
        self.n_items += len(texts)
        self.counts = torch.cat([self.counts, self.counts.new_zeros(len(texts))])

    def item_vectors(self) -> tuple[torch.Tensor, None]:
        """One dimension: the count (a user's vector is 1)."""
        return self.counts[:, None], None  # (n_items + 1, 1)

    def user_vectors(self, history: torch.Tensor) -> torch.Tensor:
        return torch.ones(history.shape[0], 1, device=self.counts.device)  # (B, 1)

    def full_sort_predict(self, batch: Batch) -> torch.Tensor:
        scores = self.counts.expand(len(batch), -1).clone()  # (B, n_items + 1)
        scores[:, 0] = float("-inf")
        return scores
