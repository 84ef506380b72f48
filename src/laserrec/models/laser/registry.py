"""Registers Laser: loads the frozen LLM and the frozen ID model named in the config, then builds the
paper's ``Laser``, or ``LaserPlus`` when one of laserrec's additions is on."""

from __future__ import annotations

from pathlib import Path

from laserrec.data.dataset import PreparedData
from laserrec.llm.backbone import shared_backbone
from laserrec.models.laser.model import Laser
from laserrec.models.laser.plus import RETIRED, LaserPlusConfig, laser_class
from laserrec.models.registry import LoadCF, ModelSpec, read_recipes, register

# Training settings that suit a frozen LLM on a CPU (each can be overridden like any other key).
LASER_TRAIN = {
    "batch_size": 16,
    "lr": 1e-3,
    "weight_decay": 0.01,
    "patience": 4,
    "samples_per_epoch": 1024,
    "eval_batch_size": 32,
    "grad_clip": 1.0,
    "valid_users": 1000,
}


def build_laser(config: LaserPlusConfig, data: PreparedData, load_cf: LoadCF) -> Laser:
    cf = load_cf(config.cf_run, data) if config.needs_cf else None
    return laser_class(config)(
        config, data.n_items, data.items, shared_backbone(config.llm, config.dtype), cf
    )


register(
    "laser",
    ModelSpec(
        LaserPlusConfig,
        build_laser,
        LASER_TRAIN,
        read_recipes(Path(__file__).with_name("recipes")),
        default_recipe="laserrec",
        retired=RETIRED,
    ),
)
