"""Settings of the late fusion: the frozen ID run it reads, the text weights it chooses from, and the
settings of its text part (as the ``text`` model's)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from laserrec.config import check, field
from laserrec.models.text.config import TextOptions, check_text

FUSION_WEIGHTS = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0]


@dataclass
class FusionConfig(TextOptions):
    cf_run: str = field("", "run folder of the trained SASRec/BERT4Rec whose scores are fused (--cf)")
    weights: list[float] = field(
        FUSION_WEIGHTS,
        "text weights w tried on validation (score = z(ID model) + w * z(text)); the best one is kept "
        "(the smallest on a tie)",
    )

    def __post_init__(self) -> None:
        check_text(self)
        check(len(self.weights) > 0, "weights: give at least one text weight")
        bad = [w for w in self.weights if not (math.isfinite(w) and w >= 0)]
        check(not bad, f"weights must be finite and >= 0, got {bad}")
