"""SASRec hyper-parameters (defaults = RecBole 1.2.1's SASRec)."""

from __future__ import annotations

from dataclasses import dataclass

from laserrec.config import check, check_range, field
from laserrec.models.repeat import RepeatOptions, check_repeat


@dataclass
class SASRecConfig(RepeatOptions):
    hidden_size: int = field(64, "embedding and hidden size d")
    n_layers: int = field(2, "number of self-attention blocks")
    n_heads: int = field(2, "attention heads per block (must divide hidden_size)")
    inner_size: int = field(256, "feed-forward inner size")
    dropout: float = field(0.5, "dropout on embeddings and block outputs")
    attn_dropout: float = field(0.5, "dropout on attention weights")
    max_len: int = field(50, "most recent items the model reads")
    train_mode: str = field(
        "prefix",
        "training samples: 'prefix' (every prefix of a user's training sequence is a sample whose last "
        "state predicts the next item, as RecBole; ranks better) or 'sequence' (one window per user with "
        "a target at every position, as the SASRec paper; an epoch costs about 1/(mean prefix length) "
        "as much, so it suits long histories)",
    )

    def __post_init__(self) -> None:
        check_repeat(self)
        check_range(self, ("hidden_size", "n_layers", "n_heads", "inner_size"), 1)
        check(self.hidden_size % self.n_heads == 0, f"n_heads={self.n_heads} must divide {self.hidden_size}")
        for name in ("dropout", "attn_dropout"):
            check(0 <= getattr(self, name) < 1, f"{name} must be in [0, 1), got {getattr(self, name)}")
        check(
            self.train_mode in ("prefix", "sequence"),
            f"train_mode {self.train_mode!r}: expected prefix|sequence",
        )
        check(self.max_len >= 2, f"max_len must be >= 2, got {self.max_len}")
