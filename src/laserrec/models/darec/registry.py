"""Registers "darec"; its builder loads the frozen LLM and, with ``cf_run``, the frozen SASRec of that run."""

from __future__ import annotations

import torch

from laserrec.data.dataset import PreparedData
from laserrec.errors import ConfigError
from laserrec.llm.backbone import freeze, load_backbone
from laserrec.models.base import CollaborativeEncoder
from laserrec.models.darec.config import PRESETS, TRAIN_DEFAULTS, DARecConfig
from laserrec.models.darec.model import DARec
from laserrec.models.registry import ModelSpec, register


def load_cf(run_dir: str, data: PreparedData) -> CollaborativeEncoder:
    """The frozen ID model of a trained run folder; it must have been trained on the same item set."""
    from laserrec.training.runs import load_run

    threads = torch.get_num_threads()
    net, cf_data, _, run_config = load_run(run_dir)
    torch.set_num_threads(threads)  # load_run applies the ID run's thread setting
    if not isinstance(net, CollaborativeEncoder):
        raise ConfigError(
            f"cf_run {run_dir} holds a {run_config['model']!r} run, which gives no collaborative "
            f"states; train sasrec (or bert4rec) first"
        )
    if net.n_items != data.n_items:
        raise ConfigError(
            f"cf_run {run_dir} was trained on {net.n_items} items, but this dataset has {data.n_items}"
        )
    if cf_data.item_ids != data.item_ids:
        raise ConfigError(f"cf_run {run_dir} was trained on another dataset: same item count, other item ids")
    return freeze(net)


def build(config: DARecConfig, data: PreparedData) -> DARec:
    cf = load_cf(config.cf_run, data) if config.inject_cf and config.cf_run else None
    return DARec(config, data.n_items, data.items, load_backbone(config.llm, config.dtype), cf)


register("darec", ModelSpec(DARecConfig, build, TRAIN_DEFAULTS, PRESETS))
