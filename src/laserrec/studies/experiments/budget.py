"""What an experiment's cells train for: ``cpu`` (sized for a 2-core machine; docs/experiments.md gives the
wall times), ``paper`` (the published sizes, for a GPU) or ``minutes=M`` (the cpu settings, every trained
cell cut off after M minutes of training). Each budget names recipes of the models (files beside them)."""

from __future__ import annotations

from dataclasses import dataclass

from laserrec.errors import ConfigError

# What a cell trains for, per model, at each budget: a recipe of the model. The cpu budget lays the keys
# its recipe sets over that recipe's base (``ModelSpec.recipe_layer``) over the cell's own recipe, so a
# cell naming another recipe (``laser_paper_cpu``, or ``--set laser.recipe=paper-cpu``) trains it at the
# same budget: Laser at the main job's step budget (``quickstart``: 2 warm-up, 4 phase-1 and 1 phase-2
# epochs of 1,024 prompts, validated on 300 users), Lite-LLM4Rec and DARec at their ``experiment`` recipe;
# SASRec and BERT4Rec to early stopping, as `laserrec train`. The paper budget runs the ``paper`` recipes.
CPU = {"laser": "quickstart", "lite_llm4rec": "experiment", "darec": "experiment"}
PAPER = {"laser": "paper", "lite_llm4rec": "paper", "darec": "paper"}
# The experiments with many Laser cells (ablation, sensitivity) lay this recipe's keys on top at the cpu
# budget: two phase-1 epochs instead of four.
LASER_SHORT = "quickstart-short"


def recipe_layer(model: str, recipe: str) -> dict:
    """The keys recipe ``recipe`` of ``model`` sets over its base."""
    from laserrec.models.registry import get_spec

    return get_spec(model).recipe_layer(recipe)


@dataclass(frozen=True)
class Budget:
    name: str  # "cpu" | "paper" | "minutes"
    minutes: float = 0.0  # with "minutes": each trained cell's training time limit

    def settings(self, model: str) -> dict:
        """The settings this budget gives a run of ``model`` (before the cell's own and the user's)."""
        if self.name == "paper":
            return {"recipe": PAPER[model]} if model in PAPER else {}
        values = recipe_layer(model, CPU[model]) if model in CPU else {}
        if self.name == "minutes":
            values["max_train_minutes"] = self.minutes
        return values

    def short_laser(self) -> dict:
        """What a Laser cell of an experiment with many of them adds to the budget's settings."""
        return {} if self.name == "paper" else recipe_layer("laser", LASER_SHORT)

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
