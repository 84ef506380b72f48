"""Settings of the one training loop, shared by every model."""

from __future__ import annotations

from dataclasses import dataclass

from laserrec.config import check, check_range, field

MAX_SEED = 2**32 - 1  # the range numpy and torch seeds share on every platform
MAX_THREADS = 1024  # more is a typo, not a machine: torch accepts it and then crashes at exit


@dataclass
class TrainConfig:
    epochs: int = field(200, "maximum training epochs (models with phases: see their config)")
    batch_size: int = field(256, "training samples per optimizer step")
    lr: float = field(1e-3, "AdamW learning rate")
    weight_decay: float = field(0.0, "AdamW weight decay")
    grad_clip: float = field(0.0, "clip the gradient norm to this value (0 = off)")
    patience: int = field(10, "stop after this many epochs without a better validation score")
    min_epochs: int = field(0, "early stopping cannot end a phase before this many epochs (0 = off)")
    valid_metric: str = field("ndcg@10", "validation metric for early stopping and the best checkpoint")
    eval_batch_size: int = field(1024, "users per full-ranking batch")
    valid_users: int = field(
        0, "validate on a fixed random sample of this many users (0 = all); test uses all"
    )
    test_users: int = field(0, "test on a fixed random sample of this many users (0 = all)")
    eval_every: int = field(1, "validate every this many epochs")
    samples_per_epoch: int = field(0, "train on a random sample of this many samples per epoch (0 = all)")
    train_on: str = field(
        "train", "training samples: train (the training sequences) | heldout (LLM models; docs/protocol.md)"
    )
    mask_seen: bool = field(False, "exclude items already in the history from the ranking (default: no)")
    max_train_minutes: float = field(
        0.0, "time budget: the epoch in progress is cut short, validated and training stops (0 = none)"
    )
    save_every_steps: int = field(0, "also checkpoint every this many steps inside an epoch (0 = per epoch)")
    init_from: str = field(
        "", "start from the trained weights of this run folder: each tensor whose name and shape match"
    )
    seed: int = field(2020, "seed of shuffling, sampling, dropout and initialisation")
    deterministic: bool = field(True, "torch's deterministic algorithms: a rerun gives the same numbers")
    threads: int = field(0, "torch threads (0 = all cores)")
    grad_checkpointing: bool = field(
        False, "recompute the frozen LLM's activations in the backward pass: less memory, ~1/3 more time"
    )

    def __post_init__(self) -> None:
        check_range(
            self,
            ("epochs", "min_epochs", "valid_users", "test_users", "samples_per_epoch", "save_every_steps"),
            0,
        )
        check_range(self, ("batch_size", "patience", "eval_every", "eval_batch_size"), 1)
        check_range(self, ("weight_decay", "grad_clip", "max_train_minutes"), 0)
        check(self.lr > 0, f"lr must be positive, got {self.lr}")
        check_range(self, ("seed",), 0, MAX_SEED)
        check_range(self, ("threads",), 0, MAX_THREADS)
        check(self.train_on in ("train", "heldout"), f"train_on {self.train_on!r}: expected train|heldout")
        metric, _, k = self.valid_metric.partition("@")
        check(
            metric == "mrr" or (metric in ("recall", "ndcg") and k.isdigit() and int(k) >= 1),
            f"valid_metric {self.valid_metric!r}: use recall@K, ndcg@K (K >= 1) or mrr",
        )

    def cutoffs(self, base: tuple[int, ...] = (5, 10, 20)) -> tuple[int, ...]:
        """``base`` and the K of ``valid_metric``: validation computes both, so selection can use it."""
        _, _, k = self.valid_metric.partition("@")
        return tuple(sorted({*base, int(k)})) if k else base
