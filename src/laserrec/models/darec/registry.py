"""Registers "darec"; its builder loads the frozen LLM and, with ``cf_run``, the frozen SASRec of that run."""

from __future__ import annotations

from pathlib import Path

from laserrec.data.dataset import PreparedData
from laserrec.llm.backbone import shared_backbone
from laserrec.models.darec.config import TRAIN_DEFAULTS, DARecConfig
from laserrec.models.darec.model import DARec
from laserrec.models.registry import LoadCF, ModelSpec, read_recipes, register


def build(config: DARecConfig, data: PreparedData, load_cf: LoadCF) -> DARec:
    cf = load_cf(config.cf_run, data) if config.inject_cf and config.cf_run else None
    return DARec(config, data.n_items, data.items, shared_backbone(config.llm, config.dtype), cf)


register(
    "darec",
    ModelSpec(
        DARecConfig,
        build,
        TRAIN_DEFAULTS,
        read_recipes(Path(__file__).with_name("recipes")),
        default_recipe="cpu",
    ),
)
