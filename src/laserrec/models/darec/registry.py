"""Registers "darec"; its builder loads the frozen LLM and, with ``cf_run``, the frozen SASRec of that run."""

from __future__ import annotations

from laserrec.data.dataset import PreparedData
from laserrec.llm.backbone import shared_backbone
from laserrec.models.darec.config import RECIPES, TRAIN_DEFAULTS, DARecConfig
from laserrec.models.darec.model import DARec
from laserrec.models.registry import LoadCF, ModelSpec, register


def build(config: DARecConfig, data: PreparedData, load_cf: LoadCF) -> DARec:
    cf = load_cf(config.cf_run, data) if config.inject_cf and config.cf_run else None
    return DARec(config, data.n_items, data.items, shared_backbone(config.llm, config.dtype), cf)


register("darec", ModelSpec(DARecConfig, build, TRAIN_DEFAULTS, RECIPES, default_recipe="cpu"))
