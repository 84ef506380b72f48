"""Every model registered by name, in one place: its config class, builder and training defaults.

A builder receives the model config, the prepared dataset and ``load_cf`` — the caller's loader of a
finished ID run as a frozen model (``training.loading.load_frozen_cf``), so ``models`` never imports the
training code — and passes on only what the model needs (``n_items``, item text, a frozen collaborative
model): models never see the dataset object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from laserrec.data.dataset import PreparedData
from laserrec.errors import ConfigError
from laserrec.models.base import Recommender
from laserrec.models.bert4rec.config import BERT4RecConfig
from laserrec.models.bert4rec.model import BERT4Rec
from laserrec.models.sasrec.config import SASRecConfig
from laserrec.models.sasrec.model import SASRec

# (run folder, dataset) -> the frozen SASRec/BERT4Rec of that run, checked against the dataset's items
LoadCF = Callable[[str, PreparedData], Recommender]


@dataclass
class ModelSpec:
    config_cls: type
    build: Callable[[Any, PreparedData, LoadCF], Recommender]
    train_defaults: dict = field(default_factory=dict)  # TrainConfig values that suit this model
    recipes: dict[str, dict] = field(default_factory=dict)  # named settings (model and training keys)
    default_recipe: str | None = None  # the recipe `laserrec train` uses when none is named
    retired: dict[str, Any] = field(default_factory=dict)  # removed options and the value that meant "off"
    predated: dict[str, Any] = field(default_factory=dict)  # added options and what a run made before meant
    train_mode: str = "prefix"  # the model class's: "sequence" (ID models) or "prefix" (LLM models)


ID_TRAIN = {"batch_size": 256, "lr": 1e-3, "epochs": 200, "patience": 10}

MODELS: dict[str, ModelSpec] = {
    "sasrec": ModelSpec(
        SASRecConfig,
        lambda c, d, load_cf: SASRec(c, d.n_items),
        ID_TRAIN,
        predated={"train_mode": "sequence"},
        train_mode=SASRec.train_mode,
    ),
    "bert4rec": ModelSpec(
        BERT4RecConfig, lambda c, d, load_cf: BERT4Rec(c, d.n_items), ID_TRAIN, train_mode=BERT4Rec.train_mode
    ),
}


def read_recipes(folder: Path) -> dict[str, dict]:
    """Every ``NAME.yaml`` in ``folder`` as a recipe called NAME."""
    from laserrec.config import load_file

    return {path.stem: load_file(path) for path in sorted(folder.glob("*.yaml"))}


def register(name: str, spec: ModelSpec) -> None:
    MODELS[name] = spec


def get_spec(name: str) -> ModelSpec:
    _load_llm_models()
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name]


def _load_llm_models() -> None:
    """The LLM models import transformers; register them only when first asked for."""
    from laserrec.models.darec import registry as _darec  # noqa: F401
    from laserrec.models.laser import registry as _laser  # noqa: F401
    from laserrec.models.lite_llm4rec import registry as _lite  # noqa: F401
