"""Registers "lite_llm4rec"; also the LLM loader shared with DARec (adds the tiny test backbones)."""

from __future__ import annotations

from laserrec.data.dataset import PreparedData
from laserrec.llm.backbone import Backbone, build_tiny_backbone, load_backbone
from laserrec.models.lite_llm4rec.config import PRESETS, TRAIN_DEFAULTS, LiteLLM4RecConfig
from laserrec.models.lite_llm4rec.model import LiteLLM4Rec
from laserrec.models.registry import ModelSpec, register


def load_llm(name: str, dtype: str) -> Backbone:
    """``load_backbone``, plus "tiny-llama" / "tiny-gpt2" / "tiny-bert": random 2-layer models for tests."""
    if name.startswith("tiny-"):
        return build_tiny_backbone(name.removeprefix("tiny-"), dtype=dtype)
    return load_backbone(name, dtype)


def build(config: LiteLLM4RecConfig, data: PreparedData) -> LiteLLM4Rec:
    backbone = load_llm(config.llm, "fp32" if config.llm_trainable else config.dtype)
    return LiteLLM4Rec(config, data.n_items, data.items, backbone)


register("lite_llm4rec", ModelSpec(LiteLLM4RecConfig, build, TRAIN_DEFAULTS, PRESETS))
