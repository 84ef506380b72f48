"""Registers "lite_llm4rec": loads the LLM (fp32 when some part of it is fine-tuned) and builds the model."""

from __future__ import annotations

from pathlib import Path

from laserrec.data.dataset import PreparedData
from laserrec.llm.backbone import load_backbone
from laserrec.models.lite_llm4rec.config import TRAIN_DEFAULTS, LiteLLM4RecConfig
from laserrec.models.lite_llm4rec.model import LiteLLM4Rec
from laserrec.models.registry import LoadCF, ModelSpec, read_recipes, register


def build(config: LiteLLM4RecConfig, data: PreparedData, load_cf: LoadCF) -> LiteLLM4Rec:
    # A fresh backbone on every build: a trainable item LLM is modified in place.
    backbone = load_backbone(config.llm, "fp32" if config.llm_trainable else config.dtype)
    return LiteLLM4Rec(config, data.n_items, data.items, backbone)


register(
    "lite_llm4rec",
    ModelSpec(
        LiteLLM4RecConfig,
        build,
        TRAIN_DEFAULTS,
        read_recipes(Path(__file__).with_name("recipes")),
        default_recipe="cpu",
    ),
)
