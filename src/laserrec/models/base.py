"""The small interface every recommender exposes (after RecBole): loss, full-ranking scores, hooks.

Item ids are internal (1..n_items, 0 = padding). Histories are *left*-padded: the most recent item
sits in the last column, so every model reads the user state at position -1.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm


def format_parameters(trainable: int, total: int) -> str:
    """E.g. "trainable 1.2M / total 136M (0.9%)"."""

    def short(n: int) -> str:
        for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
            if n >= size:
                return f"{n / size:.3g}{unit}"
        return str(n)

    return f"trainable {short(trainable)} / total {short(total)} ({100 * trainable / max(1, total):.2g}%)"


@dataclass
class Batch:
    """One batch of users.

    history: (B, T) item ids, left-padded with 0.
    target:  (B, T) next item at every position ("sequence" mode, 0 = no loss there)
             or (B,) the one next item ("prefix" mode and evaluation).
    """

    history: torch.Tensor
    target: torch.Tensor

    def __len__(self) -> int:
        return self.history.shape[0]

    def to(self, device: torch.device) -> Batch:
        return Batch(self.history.to(device), self.target.to(device))


def pad_left(seqs: list[np.ndarray], max_len: int) -> torch.Tensor:
    """Most recent ``max_len`` items of each sequence, left-padded with 0. Output shape: (B, max_len)."""
    out = np.zeros((len(seqs), max_len), dtype=np.int64)
    for row, s in enumerate(seqs):
        s = s[-max_len:]
        if len(s):
            out[row, max_len - len(s) :] = s
    return torch.from_numpy(out)


class Recommender(nn.Module):
    """Base class. Subclasses take their config and sizes (``n_items``), never the dataset."""

    #: "sequence": one sample per user, a target at every position (SASRec/BERT4Rec);
    #: "prefix": one sample per (history prefix, next item) pair (the LLM models).
    train_mode: str = "sequence"
    #: whether some trainable parameter gets no gradient in some step (DDP must then look for them)
    ddp_unused_parameters: bool = False
    #: progress bars of the model's own long work (encoding an item catalog); the trainer sets it
    show_progress: bool = True

    def catalog_bar(self) -> tqdm:
        """Progress bar over the item catalog (for models that encode every item's text)."""
        total = getattr(self, "n_items", None)
        return tqdm(
            total=total, desc="encoding items", unit="item", leave=False, disable=not self.show_progress
        )

    @property
    def device(self) -> torch.device:
        """Where the model's weights are (inputs made inside a model go there too)."""
        for tensor in itertools.chain(self.parameters(), self.buffers()):
            return tensor.device
        return torch.device("cpu")

    def to_device(self, device: torch.device) -> Recommender:
        """Move the model, and the frozen ID model it reads (not a submodule), to ``device``."""
        self.to(device)
        move_cf(getattr(self, "cf", None), device)
        return self

    def checkpoint_frozen_llm(self) -> None:
        """Recompute the frozen LLM's layer activations in the backward pass instead of keeping them
        (``grad_checkpointing``): less memory for a large backbone, about one more forward of time."""
        from laserrec.errors import ConfigError

        raise ConfigError(
            f"grad_checkpointing: {type(self).__name__} does not support it (Laser does: its frozen LLM)"
        )

    @property
    def history_len(self) -> int:
        """Most recent items of a history the model reads (the trainer's window length)."""
        return self.config.max_len

    #: False for a model fitted without gradient steps (most popular, text, fusion): the trainer calls
    #: ``fit_statistics`` once instead of running epochs, then validates and saves it as any run
    gradient_steps: bool = True

    def fit_statistics(self, train: list[np.ndarray], validate: Callable[[], float]) -> dict:
        """Fit a model with no gradient steps: its state from the training sequences (one array of item ids
        per user), and any value it chooses from ``validate()`` — the validation score (the run's
        ``valid_metric``) of the model as it stands. Returns what the run records of the fit (JSON)."""
        raise NotImplementedError(f"{type(self).__name__} trains by gradient steps")

    def calculate_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss for one batch and extra values to log (e.g. {"lb": 0.12})."""
        raise NotImplementedError

    def full_sort_predict(self, batch: Batch) -> torch.Tensor:
        """Scores of every item for each user. Output shape: (B, n_items + 1); column 0 is padding."""
        raise NotImplementedError

    def prepare_for_eval(self) -> None:
        """Called once before a full evaluation pass (e.g. to encode every item); no-op by default."""

    #: how ``user_vectors`` meet ``item_vectors``: "dot" or "cosine" (unit vectors on both sides)
    scoring: str = "dot"

    def item_vectors(self) -> tuple[torch.Tensor, torch.Tensor | None] | None:
        """The fixed item side of the scores, for an item index: rows (n_items + 1, d) and a per-item bias
        (n_items + 1,) or None, such that ``full_sort_predict`` = ``user_vectors @ rows.T + bias`` less
        ``repeat_offset()`` on the history's items. None: the model scores no fixed item matrix."""
        return None

    def user_vectors(self, history: torch.Tensor) -> torch.Tensor:
        """The user side of ``item_vectors``. Input: (B, T) left-padded ids. Output: (B, d)."""
        raise NotImplementedError(f"{type(self).__name__} has no fixed item matrix")

    def repeat_offset(self) -> float:
        """What the score of an item the user already has loses (the learned repeat offset; 0 = none)."""
        bias = getattr(self, "repeat_bias", None)
        return float(bias) if isinstance(bias, torch.Tensor) else 0.0

    def add_items(self, texts: list) -> None:
        """Append items n_items + 1, ... to the catalog from their text (ItemText), without retraining."""
        raise NotImplementedError(
            f"{type(self).__name__} learns one vector per item id, so it cannot score an item it was not "
            f"trained on; add items to a text model (Laser, Lite-LLM4Rec, text, fusion) or retrain"
        )

    def phase_schedule(self, epochs: int) -> list[tuple[int, int]]:
        """Training phases as (phase id, max epochs); one phase (id 0) unless the model has more."""
        return [(0, epochs)]

    def param_groups(self, phase: int, lr: float) -> list[dict]:
        """Optimizer parameter groups of a phase: every trainable parameter at the trainer's lr unless the
        model says otherwise."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": lr}]

    def set_phase(self, phase: int) -> None:
        """Called by the trainer when a phase starts (and on resume); no-op by default."""

    def on_epoch_start(self, epoch: int) -> None:
        """Called by the trainer at the start of every training epoch; no-op by default."""

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Weights a checkpoint must hold. Frozen backbones are rebuilt from their source, not saved."""
        return self.state_dict()

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.load_state_dict(state)

    def attach_frozen_cf(self, cf: CollaborativeEncoder | None) -> None:
        """Keep a frozen ID model as ``self.cf``, not as a submodule: never trained, never saved here."""
        if isinstance(cf, nn.Module):
            from laserrec.llm.backbone import freeze

            freeze(cf)
        object.__setattr__(self, "cf", cf)

    def parameter_counts(self) -> tuple[int, int]:
        """(trainable, total) parameters."""
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return trainable, total


def move_cf(cf: object, device: torch.device) -> None:
    """Move a frozen ID model (a Recommender, a wrapper of one, or a plain module) to ``device``."""
    if hasattr(cf, "to_device"):
        cf.to_device(device)
    elif isinstance(cf, nn.Module):
        cf.to(device)


class CollaborativeEncoder:
    """What a frozen ID model gives Laser (M-Former's input C)."""

    hidden_size: int

    def sequence_states(self, history: torch.Tensor) -> torch.Tensor:
        """Per-position hidden states. Input: (B, T) left-padded ids. Output: (B, T, d_c)."""
        raise NotImplementedError

    def item_states(self, items: torch.Tensor) -> torch.Tensor:
        """Item embeddings. Input: (B,) ids. Output: (B, 1, d_c)."""
        raise NotImplementedError
