"""Registers Laser: loads the frozen LLM and the frozen ID model named in the config, then builds it."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from laserrec.data.dataset import PreparedData
from laserrec.errors import ConfigError
from laserrec.llm.backbone import Backbone, load_backbone
from laserrec.models.base import CollaborativeEncoder
from laserrec.models.laser.config import PRESETS, LaserConfig
from laserrec.models.laser.model import Laser
from laserrec.models.registry import ModelSpec, register

# Training settings that suit a frozen LLM on a CPU (each can be overridden like any other key).
LASER_TRAIN = {
    "batch_size": 8,
    "lr": 1e-3,
    "weight_decay": 0.01,
    "patience": 2,
    "samples_per_epoch": 4096,
    "eval_batch_size": 32,
    "grad_clip": 1.0,
    "valid_users": 1000,
}


@functools.lru_cache(maxsize=2)
def cached_backbone(name: str, dtype: str) -> Backbone:
    """One frozen backbone per process (training, then testing, builds the model twice)."""
    return load_backbone(name, dtype)


def load_cf(run_dir: str, data: PreparedData) -> CollaborativeEncoder:
    """The frozen ID model of a finished SASRec/BERT4Rec run, checked against ``data``."""
    from laserrec.training.runs import load_run

    path = Path(run_dir)
    if not run_dir or not (path / "config.json").is_file():
        raise ConfigError(
            f"cf_run {run_dir!r} is not a run folder; train SASRec or BERT4Rec first "
            f"(laserrec train --model sasrec ...) and pass its folder with --cf"
        )
    cf_model = json.loads((path / "config.json").read_text())["model"]
    if cf_model not in ("sasrec", "bert4rec"):
        raise ConfigError(f"cf_run {run_dir}: a {cf_model} run; M-Former needs a sasrec or bert4rec run")
    net, cf_data, _, _ = load_run(path)
    if cf_data.n_items != data.n_items or cf_data.item_ids != data.item_ids:
        raise ConfigError(
            f"cf_run {run_dir} was trained on another dataset ({cf_data.n_items} items, this one has "
            f"{data.n_items}, or the item ids differ)"
        )
    return net


def build_laser(config: LaserConfig, data: PreparedData) -> Laser:
    needs_cf = config.use_prefix and config.prefix_source == "mformer"
    cf = load_cf(config.cf_run, data) if needs_cf else None
    return Laser(config, data.n_items, data.items, cached_backbone(config.llm, config.dtype), cf)


register("laser", ModelSpec(LaserConfig, build_laser, LASER_TRAIN, PRESETS))
