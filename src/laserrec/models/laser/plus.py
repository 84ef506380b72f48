"""laserrec's additions to Laser, each a switch that is off in the paper's recipes and measured on this
project's data (figures: docs/research.md). ``LaserPlus`` is the paper's ``Laser`` with them; the
registry builds it only when one is on, so the paper's recipes run the paper's class.

- ``warmup_epochs``: a phase 0 that fits the suffix output to the frozen LLM's mean pooling of the same
  prompt (1 - cosine), the prefix held fixed, so the contrastive phases start from a usable embedding.
- ``negatives``: phase 1 as the authors' released code trains it — each user against the batch's targets
  and drawn items, all encoded with gradient at every step (``history_negatives`` adds the user's newest
  history items); phase 2 keeps the whole-catalog matrix.
- ``cf_input=last``: M-Former reads only the ID model's last state, the vector it scores the next item with.
- ``distill``: a KL term from the frozen ID model's ranking over the same candidates (``distill.py``).
- ``repeat_bias``: a learned offset off the score of every item the user already has (``models/repeat.py``).
- ``center``: the mean item and (running) mean user embedding are taken off before the cosine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from laserrec.config import check, field
from laserrec.errors import ConfigError
from laserrec.models.base import Batch
from laserrec.models.laser.config import LaserConfig
from laserrec.models.laser.distill import distill_kl
from laserrec.models.laser.inputs import pool
from laserrec.models.laser.model import Laser
from laserrec.models.repeat import check_repeat, repeat_parameter, take_offset

# Options that earlier versions had and measured not to help, with the value that meant "off": a saved
# run holding that value still loads; any other value is refused by name (docs/research.md has the figures).
RETIRED = {
    "prefix_start": "random",
    "suffix_init": "token",
    "mformer_lr_scale": 1.0,
    "fresh_targets": False,
    "head": False,
    "distill_catalog": False,
    "distill_temperature": 1.0,
}


@dataclass
class LaserPlusConfig(LaserConfig):
    cf_input: str = field(
        "states",
        "M-Former's input C: states (at the prompt's items) | items (their embeddings) | last (addition)",
    )
    warmup_epochs: int = field(0, "addition: epochs of suffix warm-up (phase 0) before phase 1; 0 = off")
    warmup_lr: float = field(1e-2, "addition: learning rate of the warm-up")
    negatives: int = field(0, "addition: phase 1 against the batch's targets + this many drawn items")
    history_negatives: int = field(0, "addition: each user's newest this-many items join those candidates")
    distill: float = field(0.0, "addition: weight of the KL from the frozen ID model's ranking; 0 = off")
    distill_unseen: bool = field(False, "addition: distill's teacher gives the user's history no mass")
    repeat_bias: bool = field(False, "addition: a learned offset off the score of the user's own items")
    repeat_init: float = field(0.0, "addition: the offset's start (with repeat_bias), in cosine units")
    center: bool = field(False, "addition: mean item / running mean user embedding taken off before cosine")

    CF_INPUTS: ClassVar[tuple[str, ...]] = ("states", "items", "last")

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.warmup_lr > 0, f"warmup_lr must be > 0, got {self.warmup_lr}")
        for name in ("warmup_epochs", "negatives", "history_negatives"):
            check(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)}")
        check(self.distill >= 0, f"distill must be >= 0, got {self.distill}")
        check(self.distill > 0 or not self.distill_unseen, "distill_unseen needs distill > 0")
        check(self.negatives > 0 or not self.history_negatives, "history_negatives needs negatives > 0")
        check_repeat(self)

    @property
    def needs_cf(self) -> bool:
        """M-Former's input, or the teacher of distill."""
        return self.uses_mformer or self.distill > 0

    @property
    def has_additions(self) -> bool:
        """Whether any addition is on (else the paper's ``Laser`` runs this config)."""
        return any(
            (
                self.cf_input == "last",
                self.warmup_epochs > 0 and self.pooling == "suffix",
                self.negatives,
                self.distill,
                self.repeat_bias,
                self.center,
            )
        )


def laser_class(config: LaserConfig) -> type[Laser]:
    """``LaserPlus`` when one of laserrec's additions is on, else the paper's ``Laser``."""
    return LaserPlus if getattr(config, "has_additions", False) else Laser


class LaserPlus(Laser):
    """Laser with laserrec's additions (module docstring); with all of them off it is ``Laser``."""

    phases = (0, 1, 2)
    config: LaserPlusConfig
    ddp_unused_parameters = True  # the warm-up holds the prefix fixed: M-Former gets no gradient there

    def __init__(self, config: LaserPlusConfig, n_items, item_texts, backbone, cf=None) -> None:
        if config.distill > 0 and cf is None:
            raise ConfigError("Laser with distill > 0 needs a trained ID model (cf) as its teacher")
        super().__init__(config, n_items, item_texts, backbone, cf)
        self.repeat_bias = repeat_parameter(config)
        hidden = self.item_matrix.shape[1]
        self.register_buffer("item_mean", torch.zeros(hidden))  # taken off items with config.center
        self.register_buffer("user_mean", torch.zeros(hidden))  # ... and off users

    @property
    def _sampled(self) -> bool:
        """Phase 1 against drawn candidates encoded now (config.negatives), not the stale matrix."""
        return self.phase == 1 and self.config.negatives > 0

    # ------------------------------------------------------------------ warm-up (phase 0)
    def phase_schedule(self, epochs: int) -> list[tuple[int, int]]:
        c = self.config
        warmup = [(0, c.warmup_epochs)] if c.warmup_epochs > 0 and c.pooling == "suffix" else []
        return warmup + super().phase_schedule(epochs)

    def param_groups(self, phase: int, lr: float) -> list[dict]:
        return super().param_groups(phase, self.config.warmup_lr if phase == 0 else lr)

    def _prefix(self, c, mask, b):
        """The warm-up holds the prefix fixed (no gradient): its target moves with it (``_warmup_loss``)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.phase != 0):
            return super()._prefix(c, mask, b)

    def _warmup_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """1 - cos(suffix output, the same forward's mean over prompt tokens (no grad)), over the batch's
        user prompts and its target items' prompts. An untrained suffix reads an anisotropic state, while
        the frozen LLM's mean pooling already ranks about as well as the text-only floor."""
        gaps = []
        for prompts, c, mask in (self._user_inputs(batch.history), self._item_inputs(batch.target)):
            hidden, kinds, _ = self._hidden(prompts, c, mask)
            target = pool(hidden, kinds, "mean").detach()
            gaps.append(1 - F.cosine_similarity(pool(hidden, kinds, "suffix"), target, dim=-1))
        gap = torch.cat(gaps).mean()
        self._dirty = True
        return gap, {"cos_gap": gap.item()}

    # ------------------------------------------------------------------ inputs and scores
    def _user_states(self, history: torch.Tensor):
        if self.mformer is None or self.config.cf_input != "last":
            return super()._user_states(history)
        return self._cf_states(history, history[:, -1:])  # (B, 1, d_c)

    def _unit_items(self, items: torch.Tensor) -> torch.Tensor:
        """Item embeddings (N, H) as rows of the matrix: minus the catalog mean with config.center, unit."""
        return F.normalize(items - self.item_mean if self.config.center else items, dim=-1)

    def _store_items(self) -> None:
        if self.config.center:
            self.item_mean.copy_(self.item_matrix[1:].mean(0))
        super()._store_items()

    def _scored_users(self, h: torch.Tensor) -> torch.Tensor:
        """With config.center: h less the running mean of training users' embeddings (updated by training
        steps, 0.9 / 0.1, set by the first one), then unit. Input/output: (B, H)."""
        if self.config.center:
            if self.training and torch.is_grad_enabled():
                batch_mean = h.detach().mean(0)
                unset = not bool(self.user_mean.any())
                self.user_mean.copy_(batch_mean if unset else 0.9 * self.user_mean + 0.1 * batch_mean)
            h = h - self.user_mean
        return F.normalize(h, dim=-1)

    def _offset(self, scores: torch.Tensor, history: torch.Tensor, ids=None, scale: float = 1.0):
        """``take_offset`` with this model's b (scores unchanged without config.repeat_bias)."""
        return take_offset(scores, history, self.repeat_bias, self.n_items, ids, scale)

    def full_sort_predict(self, batch: Batch) -> torch.Tensor:
        scores = super().full_sort_predict(batch)
        with torch.no_grad():
            scores[:, 1:] = self._offset(scores[:, 1:], batch.history)  # (B, n + 1)
        return scores

    # ------------------------------------------------------------------ loss
    def on_epoch_start(self, epoch: int) -> None:
        if not self._sampled:  # drawn candidates are encoded at every step: no matrix to refresh
            super().on_epoch_start(epoch)

    def calculate_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        if self.phase == 0:
            return self._warmup_loss(batch)
        return super().calculate_loss(batch)

    def _candidates(self, users: torch.Tensor, batch: Batch, lb: torch.Tensor):
        """The whole matrix with the offset; with negatives in phase 1, the batch's targets, drawn items
        and the newest history_negatives items of each user, all encoded now with gradient."""
        tau = self.config.temperature
        if not self._sampled:
            if not self._has_matrix:
                self.refresh_item_matrix()
            logits = self._offset(users @ self.item_matrix[1:].T, batch.history) / tau
            return logits, batch.target - 1, None, lb
        newest = batch.history[:, batch.history.shape[1] - self.config.history_negatives :]  # (B, S)
        drawn = torch.randint(1, self.n_items + 1, (self.config.negatives,), device=batch.target.device)
        seen = newest[newest > 0]
        ids, inverse = torch.cat([batch.target, drawn, seen]).unique(return_inverse=True)  # (U,), (B+...,)
        items, item_lb = self._forward(*self._item_inputs(ids))
        logits = users @ self._unit_items(items).T / tau  # (B, U)
        logits = self._offset(logits, batch.history, ids, 1 / tau)
        return logits, inverse[: len(batch.target)], ids, (lb + item_lb) / 2

    def _extra_loss(self, batch: Batch, logits: torch.Tensor, ids, logs: dict) -> torch.Tensor | float:
        """distill * KL(ID model || Laser) over the same candidates (0 when distill is off)."""
        if self.config.distill == 0:
            return 0.0
        with torch.no_grad():
            teacher = self.cf.full_sort_predict(batch)  # (B, N + 1)
        seen = batch.history if self.config.distill_unseen else None
        kl = distill_kl(teacher, logits, ids, seen)
        logs["distill"] = kl.item()
        return self.config.distill * kl

    # ------------------------------------------------------------------ checkpoints
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        state = super().trainable_state_dict()
        if self.config.center:
            state["item_mean"], state["user_mean"] = self.item_mean.clone(), self.user_mean.clone()
        return state
