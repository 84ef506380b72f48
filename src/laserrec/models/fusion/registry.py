"""Registers "fusion": the frozen ID run of ``cf_run`` and the text part's frozen encoder."""

from __future__ import annotations

from laserrec.data.dataset import PreparedData
from laserrec.llm.backbone import shared_backbone
from laserrec.models.fusion.config import FusionConfig
from laserrec.models.fusion.model import LateFusion
from laserrec.models.registry import NO_STEPS, LoadCF, ModelSpec, register


def build(config: FusionConfig, data: PreparedData, load_cf: LoadCF) -> LateFusion:
    cf = load_cf(config.cf_run, data)
    backbone = shared_backbone(config.llm, config.dtype)
    return LateFusion(config, data.n_items, data.items, backbone, cf)


register("fusion", ModelSpec(FusionConfig, build, NO_STEPS, train_mode="sequence", gradient_steps=False))
