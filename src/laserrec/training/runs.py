"""A run folder: config.json, checkpoints, log.jsonl, metrics.json. Train and resume one (reading it back:
``training.loading``).

RUN_DIR/config.json   {"model", "data", "data_from_run", "data_hash", "cf_run", "model_config", "train",
                       "recipe", "version"} (the inputs' places and hashes: ``training.inputs``)
RUN_DIR/last.pt       latest checkpoint (resume); best.pt: best validation epoch
RUN_DIR/log.jsonl     one line per epoch; metrics.json: best epoch, valid and test metrics

``device`` (``laserrec.device``: auto | cpu | cuda | cuda:N | mps) is where the work runs, never a setting
of the run: a run trained on a GPU evaluates and recommends on a CPU. Under torchrun every rank runs the
same call and only rank 0 writes (``laserrec.distributed``).

Every setting is checked before any work; config.json is written once the model and the trainer are
built (and, on resume, last.pt verified), so a folder whose run never wrote a checkpoint can simply be
started again and a refused resume leaves it as it was.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from laserrec import __version__, distributed
from laserrec.config import build_config, load_file, save_json
from laserrec.data.dataset import PreparedData, leave_one_out
from laserrec.device import resolve_device
from laserrec.errors import ConfigError
from laserrec.evaluation.evaluator import evaluate
from laserrec.models.base import Recommender
from laserrec.models.registry import get_spec
from laserrec.training.config import TrainConfig
from laserrec.training.inputs import cf_record, data_record
from laserrec.training.loading import (
    KS,
    build_model,
    load_from_config,
    read_run_config,
    saved_model_config,
    set_threads,
)
from laserrec.training.resume import check_resume_settings
from laserrec.training.trainer import Trainer, load_best

log = logging.getLogger(__name__)

#: what a caller does with the trained run while it is in memory: ``(run folder, model, dataset)``
OnTrained = Callable[[Path, Recommender, PreparedData], object]


def resolve_recipe(model: str, recipe: str | None) -> tuple[str | None, dict]:
    """The recipe's name (``recipe``, else the model's default) and its values, the recipes it extends
    included."""
    spec = get_spec(model)
    name = recipe or spec.default_recipe
    if name is not None and name not in spec.recipes:
        raise ConfigError(
            f"unknown recipe {name!r} for {model}; choose one of {sorted(spec.recipes) or 'none'}"
        )
    return name, spec.recipe(name) if name else {}


def resolve_configs(
    model: str,
    file_values: dict,
    overrides: dict,
    recipe: str | None = None,
    base: tuple[dict, dict] | None = None,
) -> tuple[Any, TrainConfig]:
    """Route every key to the model config or the train config; unknown keys are an error.

    Layers, later wins: the model's training defaults < the recipe (``recipe``, else the model's default
    recipe) < the config file < the command line. ``base``: (model config, train config) values to start
    from instead of the defaults and the recipe (a run's own, on resume)."""
    spec = get_spec(model)
    model_keys = {f.name for f in dataclasses.fields(spec.config_cls)}
    train_keys = {f.name for f in dataclasses.fields(TrainConfig)}
    name, recipe_values = resolve_recipe(model, recipe) if base is None else (None, {})
    model_base, train_base = base or ({}, spec.train_defaults)
    layers: dict[str, list] = {"model": [("the run", model_base)], "train": [("defaults", train_base)]}
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
    train_cfg = build_config(TrainConfig, *layers["train"])
    if train_cfg.train_on == "heldout" and spec.train_mode != "prefix":
        raise ConfigError(f"train_on=heldout is for the LLM models; {model} trains on whole sequences")
    return build_config(spec.config_cls, *layers["model"]), train_cfg


def train_run(
    model: str | None,
    data_dir: str | Path | None,
    out: str | Path,
    config_file: str | None = None,
    overrides: dict | None = None,
    recipe: str | None = None,
    resume: bool = False,
    progress: bool = True,
    accept_changed: bool = False,
    device: str | torch.device = "cpu",
    on_trained: OnTrained | None = None,
) -> dict:
    """Train ``model`` on the prepared dataset in ``data_dir`` into the run folder ``out`` on ``device``.

    ``resume``: continue the run in ``out``; ``model``, ``data_dir`` and settings may be given again
    (see ``training.resume``), and ``accept_changed`` accepts a dataset or cf run whose hash changed.
    ``on_trained(out, net, data)`` runs once the best checkpoint is loaded and tested, before
    metrics.json marks the run finished (on rank 0 only): the commands write the run's item index
    there (``inference.recommender.write_index``; ``laserrec.load`` writes it otherwise, when first needed).
    Under torchrun the process group is joined here (``distributed.start``)."""
    out = Path(out)
    device = distributed.start(resolve_device(device))
    progress = progress and distributed.is_main()
    if resume:
        if recipe is not None:
            raise ConfigError(f"--recipe {recipe}: --resume continues the run with the settings it has")
        return _resume_run(
            model, data_dir, out, config_file, overrides, accept_changed, progress, device, on_trained
        )
    if model is None or data_dir is None:
        raise ConfigError("a new run needs --model and --data")
    model_cfg, train_cfg = resolve_configs(
        model, load_file(config_file) if config_file else {}, overrides or {}, recipe
    )
    _check_new_run_folder(out)  # on every rank (read only): nothing is written before all have checked
    data = PreparedData.load(data_dir)
    if getattr(model_cfg, "cf_run", ""):  # absolute: a path relative to this folder means nothing elsewhere
        model_cfg = dataclasses.replace(model_cfg, cf_run=str(Path(model_cfg.cf_run).resolve()))
    if train_cfg.init_from:
        train_cfg = dataclasses.replace(train_cfg, init_from=str(Path(train_cfg.init_from).resolve()))
    set_threads(train_cfg)
    net = build_model(model, model_cfg, data, train_cfg.seed, device)
    if train_cfg.init_from:
        init_from_run(net, Path(train_cfg.init_from))
    run_config = {
        "model": model,
        **data_record(out, Path(data_dir), data),
        "cf_run": cf_record(out, getattr(net, "cf", None)),
        "recipe": resolve_recipe(model, recipe)[0],
        "model_config": dataclasses.asdict(model_cfg),
        "train": dataclasses.asdict(train_cfg),
        "version": __version__,
    }
    return _fit_and_test(net, data, train_cfg, out, run_config, False, progress, on_trained)


def init_from_run(net: Recommender, source: Path) -> None:
    """Start ``net`` from the best checkpoint of the run in ``source``: every trained tensor whose name and
    shape match is copied (e.g. Laser's M-Former and suffix from another domain), the rest keep their
    initialisation; a source sharing no tensor is an error."""
    from laserrec.training.checkpoint import load_checkpoint

    if not (source / "best.pt").is_file():
        raise ConfigError(f"init_from {source}: no best.pt there; name a finished run folder")
    own = net.trainable_state_dict()
    theirs = load_checkpoint(source / "best.pt")["model"]
    matched = {k: v for k, v in theirs.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not matched:
        raise ConfigError(f"init_from {source}: none of its weights fits this model (another model?)")
    net.load_trainable_state_dict({**own, **matched})
    log.info(f"initialised {len(matched)} of {len(own)} trained tensors from {source}")


def _has_checkpoint(out: Path) -> bool:
    return (out / "last.pt").exists() or (out / "best.pt").exists()


def _check_new_run_folder(out: Path) -> None:
    """A folder with a run that wrote a checkpoint is refused; one whose run never did is started again."""
    if not (out / "config.json").exists():
        return
    if _has_checkpoint(out):
        raise ConfigError(f"{out} already holds a run; use --resume to continue it or choose another --out")
    _say(
        f"{out} holds a run that never wrote a checkpoint (stopped before its first one, or its settings "
        "failed): starting it again with the settings given now"
    )


def _resume_run(
    model: str | None,
    data_dir: str | Path | None,
    out: Path,
    config_file: str | None,
    overrides: dict | None,
    accept_changed: bool,
    progress: bool,
    device: torch.device,
    on_trained: OnTrained | None,
) -> dict:
    """Continue the run in ``out``: what is given again is checked against it, safe changes applied."""
    run_config = read_run_config(out)
    if model is not None and model != run_config["model"]:
        raise ConfigError(
            f"--model {model}: {out} holds a {run_config['model']} run; --resume continues it as it is "
            "(leave --model out, or train the other model in another --out)"
        )
    values = {**(load_file(config_file) if config_file else {}), **(overrides or {})}
    cf_given = values.pop("cf_run", None) or None
    saved = saved_model_config(run_config["model"], run_config["model_config"])
    model_cfg, train_cfg = resolve_configs(
        run_config["model"], {}, values, None, (saved, run_config["train"])
    )
    for notice in check_resume_settings({**run_config, "model_config": saved}, model_cfg, train_cfg):
        _say(notice)
    run_config["train"] = dataclasses.asdict(train_cfg)
    net, data, train_cfg, run_config = load_from_config(
        out, run_config, None, None, data_dir, cf_given, accept_changed, device
    )
    if not (out / "last.pt").exists():
        _say(
            f"{out}: no checkpoint yet (the run stopped before its first one): starting it from the beginning"
        )
        return _fit_and_test(net, data, train_cfg, out, run_config, False, progress, on_trained)
    return _fit_and_test(net, data, train_cfg, out, run_config, True, progress, on_trained)


def _fit_and_test(
    net: Recommender,
    data: PreparedData,
    train_cfg: TrainConfig,
    out: Path,
    run_config: dict,
    resume: bool,
    progress: bool,
    on_trained: OnTrained | None,
) -> dict:
    split = leave_one_out(data)
    trainable, total = net.parameter_counts()
    _say(
        f"{run_config['model']}: trainable {trainable:,} / total {total:,} parameters "
        f"({100 * trainable / max(1, total):.2f}%); {data.n_users:,} users, {data.n_items:,} items; "
        f"{split.skipped_users} users too short to evaluate"
        + (f"; {distributed.world()} processes" if distributed.world() > 1 else "")
    )
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(net, split, train_cfg, out, run_config, progress=progress)
    if resume:
        trainer.resume()  # last.pt verified before config.json takes the new settings
    if distributed.is_main():
        save_json(run_config, out / "config.json")  # only now: every setting has been accepted
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
    if state.fitted:  # a model with no gradient steps: what it chose (e.g. the fusion's text weight)
        results["fitted"] = state.fitted
    # validation on the same user sample training selected on; test on every user unless test_users
    sets = {
        "valid": split.valid.sample(train_cfg.valid_users, train_cfg.seed),
        "test": split.test.sample(train_cfg.test_users, train_cfg.seed),
    }
    for name, eval_set in sets.items():
        results[name], _ = evaluate(
            net,
            eval_set,
            net.history_len,
            train_cfg.cutoffs(KS),
            train_cfg.eval_batch_size,
            train_cfg.mask_seen,
            progress,
        )
    results["skipped_users"] = split.skipped_users
    net.prepare_for_eval()  # collective under torchrun, so before rank 0 alone runs on_trained
    if distributed.is_main():
        if on_trained is not None:
            on_trained(out, net, data)
        save_json(results, out / "metrics.json")
    distributed.barrier()
    return results


def _say(line: str) -> None:
    """A message for the user, from one process only under torchrun."""
    if distributed.is_main():
        log.info(line)
