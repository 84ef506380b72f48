"""What an experiment's cells train for: ``cpu`` (sized for a 2-core machine; docs/experiments.md gives the
wall times), ``paper`` (the published sizes, for a GPU) or ``minutes=M`` (the cpu settings, every trained
cell cut off after M minutes of training)."""

from __future__ import annotations

from dataclasses import dataclass

from laserrec.errors import ConfigError
from laserrec.pipeline import QUICKSTART

# Laser at the main job's step budget: 2 warm-up, 4 phase-1 and 1 phase-2 epochs of 1,024 prompts, validated
# on 300 users (about 5 minutes on ml-100k with all-MiniLM-L6-v2).
LASER_STEPS = {k: v for k, v in QUICKSTART["settings"]["laser"].items() if k != "cf_run"}

# The experiments with many Laser cells (ablation, sensitivity) give each two phase-1 epochs instead of four
# at the cpu budget (2 warm-up, 2 phase-1, 1 phase-2). With a single warm-up epoch phase 1 started below
# the warm-up's validation score on scientific_lcrec and the best checkpoint was the warm-up's.
LASER_SHORT = {"warmup_epochs": 2, "phase1_epochs": 2, "phase2_epochs": 1}

CPU: dict[str, dict] = {
    "sasrec": {},  # to early stopping (patience 10), as `laserrec train`
    "bert4rec": {},
    "laser": LASER_STEPS,
    "lite_llm4rec": {"epochs": 5, "valid_users": 1000},
    # DARec with SmolLM2 trains ~2 prompts/s and scores ~6 users/s here: 4 epochs of 1,024 prompts, tested
    # on 2,000 sampled users (every user would take ~25 minutes of scoring on Scientific)
    "darec": {"epochs": 4, "samples_per_epoch": 1024, "valid_users": 300, "patience": 2, "test_users": 2000},
}

PAPER: dict[str, dict] = {
    "laser": {"recipe": "paper"},
    "lite_llm4rec": {"recipe": "paper"},
    "darec": {"recipe": "paper"},
}


@dataclass(frozen=True)
class Budget:
    name: str  # "cpu" | "paper" | "minutes"
    minutes: float = 0.0  # with "minutes": each trained cell's training time limit

    def settings(self, model: str) -> dict:
        """The settings this budget gives a run of ``model`` (before the cell's own and the user's)."""
        if self.name == "paper":
            return dict(PAPER.get(model, {}))
        values = dict(CPU.get(model, {}))
        if self.name == "minutes":
            values["max_train_minutes"] = self.minutes
        return values

    def short_laser(self) -> dict:
        """What a Laser cell of an experiment with many of them adds to the budget's settings."""
        return {} if self.name == "paper" else dict(LASER_SHORT)

    def __str__(self) -> str:
        return f"minutes={self.minutes:g}" if self.name == "minutes" else self.name


def parse_budget(text: str) -> Budget:
    """``cpu`` | ``paper`` | ``minutes=M`` (M > 0)."""
    name, _, value = text.partition("=")
    if name in ("cpu", "paper") and not value:
        return Budget(name)
    if name == "minutes":
        try:
            minutes = float(value)
        except ValueError:
            minutes = -1.0
        if minutes > 0:
            return Budget("minutes", minutes)
    raise ConfigError(f"--budget {text!r}: expected cpu, paper or minutes=M with M > 0")
