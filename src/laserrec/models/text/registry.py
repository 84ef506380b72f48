"""Registers "text": the frozen encoder of item lines (``llm``), shared by every build in the process."""

from __future__ import annotations

from laserrec.data.dataset import PreparedData
from laserrec.llm.backbone import shared_backbone
from laserrec.models.registry import NO_STEPS, LoadCF, ModelSpec, register
from laserrec.models.text.config import TextConfig
from laserrec.models.text.model import TextRecommender


def build(config: TextConfig, data: PreparedData, load_cf: LoadCF) -> TextRecommender:
    return TextRecommender(config, data.n_items, data.items, shared_backbone(config.llm, config.dtype))


register("text", ModelSpec(TextConfig, build, NO_STEPS, train_mode="sequence", gradient_steps=False))
