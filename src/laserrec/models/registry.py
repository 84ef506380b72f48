"""Every model registered by name, in one place: its config class, builder, training defaults and
recipes.

A builder receives the model config, the prepared dataset and ``load_cf`` — the caller's loader of a
finished ID run as a frozen model (``training.loading.load_frozen_cf``), so ``models`` never imports the
training code — and passes on only what the model needs (``n_items``, item text, a frozen collaborative
model): models never see the dataset object.

A model's recipes are YAML files beside it (``models/NAME/recipes/RECIPE.yaml``: key: value settings, model
and training keys alike). A recipe may start from another recipe of the same model, ``extends: BASE``; its
own keys then win over the base's. An unknown base or a cycle is an error naming the file.
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
from laserrec.models.most_popular.config import MostPopularConfig
from laserrec.models.most_popular.model import MostPopular
from laserrec.models.sasrec.config import SASRecConfig
from laserrec.models.sasrec.model import SASRec

# (run folder, dataset) -> the frozen SASRec/BERT4Rec of that run, checked against the dataset's items
LoadCF = Callable[[str, PreparedData], Recommender]


@dataclass
class ModelSpec:
    config_cls: type
    build: Callable[[Any, PreparedData, LoadCF], Recommender]
    train_defaults: dict = field(default_factory=dict)  # TrainConfig values that suit this model
    recipes: dict[str, dict] = field(default_factory=dict)  # each recipe's file: own keys (+ "extends")
    default_recipe: str | None = None  # the recipe `laserrec train` uses when none is named
    retired: dict[str, Any] = field(default_factory=dict)  # removed options and the value that meant "off"
    predated: dict[str, Any] = field(default_factory=dict)  # added options and what a run made before meant
    train_mode: str = "prefix"  # the model class's: "sequence" (ID models) or "prefix" (LLM models)
    gradient_steps: bool = True  # the model class's: False when fitted in one pass (fit_statistics)

    def recipe(self, name: str) -> dict:
        """Every value recipe ``name`` sets: its base's (``extends``, resolved the same way), then its own."""
        own = dict(self.recipes[name])
        base = own.pop(EXTENDS, None)
        return {**(self.recipe(base) if base else {}), **own}

    def recipe_layer(self, name: str) -> dict:
        """What recipe ``name`` sets over its base: the keys of its own file."""
        return {k: v for k, v in self.recipes[name].items() if k != EXTENDS}

    def bases(self, name: str) -> list[str]:
        """The recipes ``name`` extends, nearest first."""
        base = self.recipes[name].get(EXTENDS)
        return [base, *self.bases(base)] if base else []


EXTENDS = "extends"  # the key of a recipe file naming the recipe it starts from
HERE = Path(__file__).parent


def read_recipes(folder: Path) -> dict[str, dict]:
    """Every ``NAME.yaml`` in ``folder`` as a recipe called NAME (none when there is no folder), each
    base it ``extends`` checked: a recipe of the folder, and no cycle."""
    from laserrec.config import load_file

    recipes = {path.stem: load_file(path) for path in sorted(folder.glob("*.yaml"))}
    for name in recipes:
        chain = [name]
        while (base := recipes[chain[-1]].get(EXTENDS)) is not None:
            where = folder / f"{chain[-1]}.yaml"
            if not isinstance(base, str) or base not in recipes:
                raise ConfigError(
                    f"{where}: extends {base!r}, which is not a recipe of this model "
                    f"(recipes: {', '.join(recipes)})"
                )
            if base in chain:
                raise ConfigError(
                    f"{where}: recipes extend each other in a cycle: {' -> '.join(chain + [base])}"
                )
            chain.append(base)
    return recipes


ID_TRAIN = {"batch_size": 256, "lr": 1e-3, "epochs": 200, "patience": 10}
NO_STEPS = {"epochs": 0}  # models fitted without gradient steps: the trainer runs no epoch

MODELS: dict[str, ModelSpec] = {
    "sasrec": ModelSpec(
        SASRecConfig,
        lambda c, d, load_cf: SASRec(c, d.n_items),
        ID_TRAIN,
        read_recipes(HERE / "sasrec" / "recipes"),
        predated={"train_mode": "sequence"},
        train_mode=SASRec.train_mode,
    ),
    "bert4rec": ModelSpec(
        BERT4RecConfig,
        lambda c, d, load_cf: BERT4Rec(c, d.n_items),
        ID_TRAIN,
        read_recipes(HERE / "bert4rec" / "recipes"),
        train_mode=BERT4Rec.train_mode,
    ),
    "most_popular": ModelSpec(
        MostPopularConfig,
        lambda c, d, load_cf: MostPopular(c, d.n_items),
        NO_STEPS,
        train_mode="sequence",
        gradient_steps=False,
    ),
}


def register(name: str, spec: ModelSpec) -> None:
    MODELS[name] = spec


def get_spec(name: str) -> ModelSpec:
    _load_llm_models()
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name]


def _load_llm_models() -> None:
    """The models reading a language model import transformers; register them only when first asked for."""
    from laserrec.models.darec import registry as _darec  # noqa: F401
    from laserrec.models.fusion import registry as _fusion  # noqa: F401
    from laserrec.models.laser import registry as _laser  # noqa: F401
    from laserrec.models.lite_llm4rec import registry as _lite  # noqa: F401
    from laserrec.models.text import registry as _text  # noqa: F401
