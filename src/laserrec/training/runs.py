"""A run folder: config.json, checkpoints, log.jsonl, metrics.json. Train, resume and evaluate one.

RUN_DIR/config.json   {"model", "data", "model_config", "train", "recipe", "version"}
RUN_DIR/last.pt       latest checkpoint (resume); best.pt: best validation epoch
RUN_DIR/log.jsonl     one line per epoch; metrics.json: best epoch, valid and test metrics
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch

from laserrec import __version__
from laserrec.config import build_config, load_file, save_json
from laserrec.data.dataset import PreparedData, leave_one_out
from laserrec.errors import ConfigError
from laserrec.evaluation.evaluator import evaluate
from laserrec.llm.backbone import freeze
from laserrec.models.base import CollaborativeEncoder, Recommender
from laserrec.models.registry import get_spec
from laserrec.training.config import TrainConfig
from laserrec.training.trainer import Trainer, load_best

KS = (5, 10, 20)


def resolve_recipe(model: str, recipe: str | None) -> tuple[str | None, dict]:
    """The recipe's name (``recipe``, else the model's default) and its values."""
    spec = get_spec(model)
    name = recipe or spec.default_recipe
    if name is not None and name not in spec.recipes:
        raise ConfigError(
            f"unknown recipe {name!r} for {model}; choose one of {sorted(spec.recipes) or 'none'}"
        )
    return name, dict(spec.recipes.get(name, {})) if name else {}


def resolve_configs(
    model: str, file_values: dict, overrides: dict, recipe: str | None = None
) -> tuple[Any, TrainConfig]:
    """Route every key to the model config or the train config; unknown keys are an error.

    Layers, later wins: the model's training defaults < the recipe (``recipe``, else the model's
    default recipe) < the config file < the command line."""
    spec = get_spec(model)
    model_keys = {f.name for f in dataclasses.fields(spec.config_cls)}
    train_keys = {f.name for f in dataclasses.fields(TrainConfig)}
    name, recipe_values = resolve_recipe(model, recipe)
    layers: dict[str, list] = {"model": [], "train": [("defaults", spec.train_defaults)]}
    for source, values in (
        (f"recipe {name}", recipe_values),
        ("config file", file_values),
        ("command line", overrides),
    ):
        unknown = sorted(set(values) - model_keys - train_keys)
        if unknown:
            raise ConfigError(
                f"{source}: unknown key(s) {unknown} for {model}; model keys: {sorted(model_keys)}, "
                f"training keys: {sorted(train_keys)}"
            )
        layers["model"].append((source, {k: v for k, v in values.items() if k in model_keys}))
        layers["train"].append((source, {k: v for k, v in values.items() if k in train_keys}))
    return build_config(spec.config_cls, *layers["model"]), build_config(TrainConfig, *layers["train"])


def saved_model_config(model: str, values: dict) -> dict:
    """A run's saved model settings without options this version retired (each must hold the value
    that meant "off"; any other value is refused by name)."""
    retired = get_spec(model).retired
    for key in sorted(set(values) & set(retired)):
        if values[key] != retired[key]:
            raise ConfigError(
                f"this run was trained with {key}={values[key]!r}, an option this version of laserrec no "
                f"longer has; evaluate it with the version that trained it"
            )
    return {k: v for k, v in values.items() if k not in retired}


def build_model(model: str, model_config: Any, data: PreparedData, seed: int) -> Recommender:
    torch.manual_seed(seed)
    return get_spec(model).build(model_config, data, load_frozen_cf)


def train_run(
    model: str,
    data_dir: str | Path,
    out: str | Path,
    config_file: str | None = None,
    overrides: dict | None = None,
    recipe: str | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    out = Path(out)
    if resume:
        return _resume_run(out, progress)
    if (out / "config.json").exists():
        raise ConfigError(f"{out} already holds a run; use --resume to continue it or choose another --out")
    data = PreparedData.load(data_dir)
    model_cfg, train_cfg = resolve_configs(
        model, load_file(config_file) if config_file else {}, overrides or {}, recipe
    )
    out.mkdir(parents=True, exist_ok=True)
    run_config = {
        "model": model,
        "data": str(Path(data_dir).resolve()),
        "recipe": resolve_recipe(model, recipe)[0],
        "model_config": dataclasses.asdict(model_cfg),
        "train": dataclasses.asdict(train_cfg),
        "version": __version__,
    }
    _set_threads(train_cfg)
    net = build_model(model, model_cfg, data, train_cfg.seed)
    save_json(run_config, out / "config.json")
    return _fit_and_test(net, data, train_cfg, out, run_config, resume=False, progress=progress)


def _resume_run(out: Path, progress: bool) -> dict:
    net, data, train_cfg, run_config = load_run(out, checkpoint=None)
    return _fit_and_test(net, data, train_cfg, out, run_config, resume=True, progress=progress)


def _fit_and_test(
    net: Recommender,
    data: PreparedData,
    train_cfg: TrainConfig,
    out: Path,
    run_config: dict,
    resume: bool,
    progress: bool,
) -> dict:
    split = leave_one_out(data)
    trainable, total = net.parameter_counts()
    print(
        f"{run_config['model']}: trainable {trainable:,} / total {total:,} parameters "
        f"({100 * trainable / max(1, total):.2f}%); {data.n_users:,} users, {data.n_items:,} items; "
        f"{split.skipped_users} users too short to evaluate"
    )
    start = time.perf_counter()
    trainer = Trainer(net, split, train_cfg, out, run_config, progress=progress)
    state = trainer.fit(resume=resume)
    load_best(net, out, run_config["model_config"], data.n_items)
    results = {
        "model": run_config["model"],
        "best_epoch": state.best_epoch,
        "train_seconds": round(state.train_seconds, 1),
        "epochs_run": state.global_epoch,
        "fit_wall_seconds": round(state.wall_seconds, 1),
        "stopped_by": state.stopped_by or "schedule or early stopping",
        "wall_seconds_this_process": round(time.perf_counter() - start, 1),
    }
    # validation on the same user sample training selected on; test always on every user
    sets = {"valid": split.valid.sample(train_cfg.valid_users, train_cfg.seed), "test": split.test}
    for name, eval_set in sets.items():
        results[name], _ = evaluate(
            net, eval_set, net.history_len, KS, train_cfg.eval_batch_size, train_cfg.mask_seen, progress
        )
    results["skipped_users"] = split.skipped_users
    from laserrec.inference.recommender import write_index

    write_index(out, net, data)  # the run's item index, for recommend and serve
    save_json(results, out / "metrics.json")
    return results


def load_run(
    run_dir: str | Path, checkpoint: str | None = "best.pt", model_overrides: dict | None = None
) -> tuple[Recommender, PreparedData, TrainConfig, dict]:
    """Rebuild a run's model from its config.json (and load ``checkpoint`` unless None).

    ``model_overrides`` change model settings that leave the trainable weights as they are (e.g. the frozen
    LLM's dtype); the checkpoint is still checked against the run's own config."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise ConfigError(f"{run_dir} is not a run folder (no config.json)")
    run_config = json.loads((run_dir / "config.json").read_text())
    spec = get_spec(run_config["model"])
    data = PreparedData.load(run_config["data"])
    saved = saved_model_config(run_config["model"], run_config["model_config"])
    model_cfg = spec.config_cls(**{**saved, **(model_overrides or {})})
    train_cfg = TrainConfig(**run_config["train"])
    _set_threads(train_cfg)
    net = build_model(run_config["model"], model_cfg, data, train_cfg.seed)
    if checkpoint:
        load_best(net, run_dir, run_config["model_config"], data.n_items)
    return net, data, train_cfg, run_config


def load_frozen_cf(run_dir: str | Path, data: PreparedData) -> Recommender:
    """The frozen ID model (SASRec/BERT4Rec) of a finished run, checked to match ``data``'s items.

    Laser's M-Former and DARec's collaborative tokens read it; it is never trained or saved with them.
    """
    if not run_dir or not (Path(run_dir) / "config.json").is_file():
        raise ConfigError(
            f"cf_run {str(run_dir)!r} is not a run folder; train SASRec or BERT4Rec first "
            f"(laserrec train --model sasrec ...) and pass its folder with --cf"
        )
    threads = torch.get_num_threads()
    net, cf_data, _, run_config = load_run(run_dir)
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
    return freeze(net)


def evaluate_run(
    run_dir: str | Path, split_name: str = "test", mask_seen: bool | None = None, progress: bool = True
) -> dict:
    net, data, train_cfg, run_config = load_run(run_dir)
    split = leave_one_out(data)
    mask = train_cfg.mask_seen if mask_seen is None else mask_seen
    metrics, _ = evaluate(
        net, split.eval_set(split_name), net.history_len, KS, train_cfg.eval_batch_size, mask, progress
    )
    metrics.update(model=run_config["model"], split=split_name)
    suffix = "_masked" if mask else ""
    save_json(metrics, Path(run_dir) / f"eval_{split_name}{suffix}.json")
    return metrics


def _set_threads(cfg: TrainConfig) -> None:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
