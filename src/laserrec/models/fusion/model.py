"""Late fusion of a frozen ID model's scores with the text-only recommender's, the weight chosen on
validation: ``score(u, i) = z(ID model)(u, i) + w * z(text)(u, i)``.

Each part's scores are standardised over the catalog for each user (zero mean, unit variance over items
1..n), so w weighs two signals of one scale. ``laserrec train --model fusion --cf RUN`` encodes the
catalog (the ``text`` model's fit) and tries every w of ``weights`` on the validation users, keeping the
best ``valid_metric`` (NDCG@10 by default; the smallest w on a tie); the run records w and every w's
score (``metrics.json`` and ``log.jsonl``: ``fitted``). No gradient step, no trained weight: the ID model
stays as its own run trained it (its checkpoint hash is recorded and checked, as for Laser).

Items added after training (``add_items``): the text part encodes them as any item. The ID model has no
vector for them, so it reads them in a history as padding and scores only the items it was trained on;
its part gives every added item 0 — after standardisation, the score of an average item: neither for
nor against it — so added items compete on their text. A history with no item the ID model knows (only
added items) gets an ID part of 0 everywhere: the text alone ranks.

Not a paper's model: the simplest blend of the collaborative and the text signal, the bar an LLM
recommender's machinery has to clear (``docs/experiments.md``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from laserrec.data.dataset import ItemText
from laserrec.llm.backbone import Backbone
from laserrec.models.base import Batch, Recommender
from laserrec.models.fusion.config import FusionConfig
from laserrec.models.text.model import TextRecommender


def standardised(scores: torch.Tensor) -> torch.Tensor:
    """Each row's real items (columns 1..) to zero mean and unit variance; column 0 = -inf.
    Input/output shape: (B, n_items + 1)."""
    real = scores[:, 1:]
    z = (real - real.mean(1, keepdim=True)) / real.std(1, keepdim=True).clamp_min(1e-12)
    return torch.cat([torch.full_like(scores[:, :1], float("-inf")), z], dim=1)


class LateFusion(Recommender):
    gradient_steps = False  # the catalog encoded, then the weight chosen (fit_statistics)

    def __init__(
        self,
        config: FusionConfig,
        n_items: int,
        item_texts: list[ItemText],
        backbone: Backbone,
        cf: Recommender,
    ) -> None:
        super().__init__()
        self.config, self.n_items, self.n_known = config, n_items, n_items
        self.attach_frozen_cf(cf)
        self.text = TextRecommender(config, n_items, item_texts, backbone)
        self.register_buffer("text_weight", torch.tensor(0.0))

    @property
    def history_len(self) -> int:
        return max(self.cf.history_len, self.text.history_len)

    def to_device(self, device: torch.device) -> LateFusion:
        self.text.to_device(device)
        return super().to_device(device)

    def encode_items(self, ids: torch.Tensor) -> torch.Tensor:
        return self.text.encode_items(ids)

    def prepare_for_eval(self) -> None:
        self.cf.prepare_for_eval()

    def fit_statistics(self, train: list[np.ndarray], validate: Callable[[], float]) -> dict:
        """The text part's catalog, then every weight of ``config.weights`` scored on validation."""
        self.text.fit_statistics(train, validate)
        found = {}
        for w in self.config.weights:
            self.text_weight.fill_(w)
            found[w] = validate()
        best = max(found, key=lambda w: (found[w], -w))
        self.text_weight.fill_(best)
        return {"text_weight": best, "valid_by_weight": {f"{w:g}": round(s, 5) for w, s in found.items()}}

    def add_items(self, texts: list[ItemText]) -> None:
        """Added items: encoded by the text part; 0 in the ID part (module docstring)."""
        self.text.add_items(texts)
        self.n_items += len(texts)

    def id_scores(self, history: torch.Tensor) -> torch.Tensor:
        """The ID part, standardised: (B, T) left-padded ids -> (B, n_items + 1), column 0 -inf, 0 for
        the items the ID model was not trained on."""
        known = history.masked_fill(history > self.n_known, 0)[:, -self.cf.history_len :]
        empty = torch.zeros(len(known), dtype=torch.long, device=known.device)
        z = standardised(self.cf.full_sort_predict(Batch(known, empty)).float())  # (B, n_known + 1)
        z[~(known > 0).any(1), 1:] = 0.0  # nothing the ID model knows: no opinion
        return torch.cat([z, z.new_zeros(len(z), self.n_items - self.n_known)], dim=1)

    def full_sort_predict(self, batch: Batch) -> torch.Tensor:
        scores = self.id_scores(batch.history)
        weight = float(self.text_weight)
        if weight:  # at w = 0 the ranking is the ID model's (and column 0 stays -inf, not nan)
            scores = scores + weight * standardised(self.text.full_sort_predict(batch))
        return scores

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The encoded catalog and the chosen weight (the ID model is its own run's; the encoder frozen)."""
        return {"text.item_text": self.text.item_text, "text_weight": self.text_weight}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.text.load_trainable_state_dict({"item_text": state["text.item_text"]})
        self.text_weight = state["text_weight"].to(self.text_weight)
