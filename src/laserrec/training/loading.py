"""Reading a run folder: its config.json, its model rebuilt and its best checkpoint loaded, the frozen ID
run a model reads (``--cf``), and a run evaluated again (every user, or the cold and warm groups of
``evaluation.groups``). ``training.runs`` writes what this reads.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from laserrec import distributed
from laserrec.config import save_json
from laserrec.data.dataset import PreparedData, leave_one_out
from laserrec.device import resolve_device
from laserrec.errors import ConfigError
from laserrec.evaluation.evaluator import evaluate
from laserrec.evaluation.groups import COLD_SHARE, grouped_metrics, popularity_groups, popularity_rule
from laserrec.models.base import Recommender
from laserrec.models.registry import get_spec
from laserrec.training.config import TrainConfig
from laserrec.training.inputs import find_cf, find_data
from laserrec.training.trainer import load_best

KS = (5, 10, 20)


def saved_model_config(model: str, values: dict) -> dict:
    """A run's saved model settings without options this version retired (each must hold the value
    that meant "off"; any other value is refused by name), and with the value an option added since meant
    for a run that predates it."""
    spec = get_spec(model)
    retired = spec.retired
    for key in sorted(set(values) & set(retired)):
        if values[key] != retired[key]:
            raise ConfigError(
                f"this run was trained with {key}={values[key]!r}, an option this version of laserrec no "
                f"longer has; evaluate it with the version that trained it"
            )
    return {**spec.predated, **{k: v for k, v in values.items() if k not in retired}}


def build_model(
    model: str, model_config: Any, data: PreparedData, seed: int, device: torch.device | None = None
) -> Recommender:
    """The model built from its config (seeded: every rank builds the same one), moved to ``device``."""
    torch.manual_seed(seed)
    try:
        net = get_spec(model).build(model_config, data, load_frozen_cf)
        return net if device is None else net.to_device(device)
    except (MemoryError, RuntimeError) as e:
        if not isinstance(e, MemoryError) and "alloc" not in str(e):
            raise
        raise ConfigError(
            f"{model}: not enough memory to build the model with these settings ({str(e).splitlines()[0]})"
        ) from None


def read_run_config(run_dir: str | Path) -> dict:
    """A run folder's config.json; a missing or damaged one is a ``ConfigError`` naming the folder."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a run folder (no config.json)")
    try:
        run_config = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(run_config, dict) or not {"model", "model_config", "train"} <= set(run_config):
        raise ConfigError(f"{path}: not a laserrec run config (needs model, model_config and train)")
    return run_config


def load_run(
    run_dir: str | Path,
    checkpoint: str | None = "best.pt",
    model_overrides: dict | None = None,
    *,
    data_dir: str | Path | None = None,
    cf_run: str | Path | None = None,
    accept_changed: bool = False,
    device: str | torch.device = "cpu",
) -> tuple[Recommender, PreparedData, TrainConfig, dict]:
    """Rebuild a run's model from its config.json (and load ``checkpoint`` unless None) on ``device``.

    ``model_overrides`` change model settings that leave the trainable weights as they are (e.g. the frozen
    LLM's dtype); the checkpoint is still checked against the run's own config. ``data_dir`` and ``cf_run``
    say where the run's dataset and frozen ID run are now (default: where the run recorded them, the
    places relative to the run folder first); both are checked against the hashes the run recorded, and
    a change is refused unless ``accept_changed``."""
    run_dir = Path(run_dir)
    run_config = read_run_config(run_dir)
    return load_from_config(
        run_dir,
        run_config,
        checkpoint,
        model_overrides,
        data_dir,
        cf_run,
        accept_changed,
        resolve_device(device),
    )


def load_from_config(
    run_dir: Path,
    run_config: dict,
    checkpoint: str | None,
    model_overrides: dict | None,
    data_dir: str | Path | PreparedData | None,
    cf_run: str | Path | None,
    accept_changed: bool,
    device: torch.device | None = None,
) -> tuple[Recommender, PreparedData, TrainConfig, dict]:
    spec = get_spec(run_config["model"])
    recorded = json.dumps(run_config, sort_keys=True)
    if isinstance(data_dir, PreparedData):  # already loaded by the caller, its hash checked there
        data = data_dir
    else:
        _, data = find_data(run_dir, run_config, data_dir, accept_changed)
    cf_dir = find_cf(run_dir, run_config, cf_run, accept_changed)
    saved = saved_model_config(run_config["model"], run_config["model_config"])
    model_values = {**saved, **(model_overrides or {})}
    if cf_dir is not None:
        model_values["cf_run"] = str(Path(cf_dir).resolve())
    model_cfg = spec.config_cls(**model_values)
    train_cfg = TrainConfig(**run_config["train"])
    set_threads(train_cfg)
    net = build_model(run_config["model"], model_cfg, data, train_cfg.seed, device)
    if checkpoint:
        ckpt = load_best(net, run_dir, run_config["model_config"], data.n_items)
        net.checkpoint_checksum = ckpt["checksum"]  # what a run reading this one records (load_frozen_cf)
    moved = json.dumps(run_config, sort_keys=True) != recorded
    if moved and (run_dir / "config.json").is_file() and distributed.is_main():
        with contextlib.suppress(OSError):  # inputs found, hashes matching, somewhere new: remember where
            save_json(run_config, run_dir / "config.json")
    return net, data, train_cfg, run_config


def load_frozen_cf(run_dir: str | Path, data: PreparedData) -> Recommender:
    """The frozen ID model (SASRec/BERT4Rec) of a finished run, checked to match ``data``'s items.

    Laser's M-Former and DARec's collaborative tokens read it; it is never trained or saved with them.
    """
    from laserrec.llm.backbone import freeze
    from laserrec.models.base import CollaborativeEncoder

    if not run_dir or not (Path(run_dir) / "config.json").is_file():
        raise ConfigError(
            f"cf_run {str(run_dir)!r} is not a run folder; train SASRec or BERT4Rec first "
            f"(laserrec train --model sasrec ...) and pass its folder with --cf"
        )
    threads = torch.get_num_threads()
    cf_config = read_run_config(run_dir)
    same_data = cf_config.get("data_hash") == data.known_hash()  # the usual case: no second load
    net, cf_data, _, run_config = load_from_config(
        Path(run_dir), cf_config, "best.pt", None, data if same_data else None, None, False
    )
    torch.set_num_threads(threads)  # load_run applies the ID run's own thread setting
    if not isinstance(net, CollaborativeEncoder):
        raise ConfigError(
            f"cf_run {run_dir} holds a {run_config['model']!r} run, which gives no collaborative "
            f"states; train sasrec or bert4rec first"
        )
    if cf_data.n_items != data.n_items:
        raise ConfigError(
            f"cf_run {run_dir} was trained on {cf_data.n_items} items, but this dataset has {data.n_items}"
        )
    if cf_data.item_ids != data.item_ids:
        raise ConfigError(f"cf_run {run_dir} was trained on another dataset: same item count, other item ids")
    frozen = freeze(net)
    frozen.source_run = Path(run_dir)  # with its checkpoint_checksum, recorded by the run that reads it
    return frozen


def evaluate_run(
    run_dir: str | Path,
    split_name: str = "test",
    mask_seen: bool | None = None,
    progress: bool = True,
    *,
    data_dir: str | Path | None = None,
    cf_run: str | Path | None = None,
    accept_changed: bool = False,
    device: str | torch.device = "cpu",
) -> dict:
    """Full-ranking evaluation of a run's best checkpoint on ``split_name``; also written to the run folder.
    ``data_dir``, ``cf_run``, ``accept_changed``, ``device``: as ``load_run``; under torchrun the users
    are split across the ranks."""
    if split_name not in ("valid", "test"):
        raise ConfigError(f"split {split_name!r}: expected valid or test")
    device = distributed.start(resolve_device(device))
    net, data, train_cfg, run_config = load_run(
        run_dir, data_dir=data_dir, cf_run=cf_run, accept_changed=accept_changed, device=device
    )
    split = leave_one_out(data)
    mask = train_cfg.mask_seen if mask_seen is None else mask_seen
    metrics, _ = evaluate(
        net, split.eval_set(split_name), net.history_len, KS, train_cfg.eval_batch_size, mask, progress
    )
    metrics.update(model=run_config["model"], split=split_name)
    suffix = "_masked" if mask else ""
    if distributed.is_main():
        save_json(metrics, Path(run_dir) / f"eval_{split_name}{suffix}.json")
    return metrics


def set_threads(cfg: TrainConfig) -> None:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)


def run_ranks(run_dir: str | Path, split_name: str = "test", progress: bool = False) -> np.ndarray:
    """0-based target ranks of a finished run's best checkpoint on ``split_name`` (every user of that split,
    history not masked unless the run trained so). Cached as ``ranks_<split>.npy`` in the run folder,
    recomputed when its ``metrics.json`` or ``best.pt`` is newer."""
    run_dir = Path(run_dir)
    cache = run_dir / f"ranks_{split_name}.npy"
    sources = [p for p in (run_dir / "metrics.json", run_dir / "best.pt") if p.exists()]
    if cache.exists() and all(cache.stat().st_mtime_ns >= p.stat().st_mtime_ns for p in sources):
        return np.load(cache)
    net, data, train_cfg, _ = load_run(run_dir)
    eval_set = leave_one_out(data).eval_set(split_name)
    _, ranks = evaluate(
        net, eval_set, net.history_len, (10,), train_cfg.eval_batch_size, train_cfg.mask_seen, progress
    )
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, ranks.numpy())
    tmp.replace(cache)
    return ranks.numpy()


def evaluate_by_popularity(run_dir: str | Path, split_name: str = "test", share: float = COLD_SHARE) -> dict:
    """Cold / warm / all metrics of a run (``laserrec evaluate RUN --by popularity``)."""
    run_dir = Path(run_dir)
    ranks = run_ranks(run_dir, split_name)
    _, data = find_data(run_dir, read_run_config(run_dir), None, False)
    split = leave_one_out(data)
    groups = popularity_groups(split, share, split_name)
    return {**grouped_metrics(ranks, groups), "rule": popularity_rule(split, share)}
