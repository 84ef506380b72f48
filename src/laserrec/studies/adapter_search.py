"""DARec's dynamic adaptation: choose serial or parallel per layer by Bayesian optimisation (Optuna TPE).

Each trial is an ordinary training run (``train_run`` with overrides) on a user sample of the dataset — every
item kept, so a ``cf_run`` trained on the full dataset still matches — for one short epoch; its validation
metric is the trial's score. ``OUT/search.json`` records every trial and the best layout, which becomes the
``adapter_layout`` of the final run (it is then saved in that run's config.json like any other field).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from laserrec.config import save_json
from laserrec.data.dataset import PreparedData
from laserrec.errors import ConfigError
from laserrec.llm.backbone import load_backbone
from laserrec.models.darec.adapters import decoder_layers
from laserrec.models.darec.config import ADAPTER_TYPES
from laserrec.training.runs import resolve_configs, train_run

TRIAL_DEFAULTS = {"epochs": 1, "samples_per_epoch": 256, "patience": 1}


def sample_users(data_dir: str | Path, out: Path, n_users: int, seed: int) -> Path:
    """A dataset folder holding ``n_users`` random users and every item (ids unchanged); or the original."""
    data = PreparedData.load(data_dir)
    if n_users <= 0 or n_users >= data.n_users:
        return Path(data_dir)
    keep = np.sort(np.random.default_rng(seed).choice(data.n_users, n_users, replace=False))
    sample = PreparedData(
        [data.sequences[u] for u in keep],
        data.items,
        [data.user_ids[u] for u in keep],
        data.item_ids,
        name=f"{data.name}-sample{n_users}",
        meta={"sampled_from": str(Path(data_dir).resolve())},
    )
    return sample.save(out, overwrite=True)  # the search's own sample: a rerun replaces it


def count_layers(llm: str) -> int:
    """Decoder layers of the LLM (loads it once; the packaged SmolLM2 loads in ~2 s from its cache)."""
    return len(decoder_layers(load_backbone(llm).model))


def search_adapter_layout(
    data_dir: str | Path,
    out: str | Path,
    trials: int,
    overrides: dict | None = None,
    sample_size: int = 1000,
    seed: int = 0,
    progress: bool = False,
) -> list[str]:
    """Search the per-layer adapter types; returns the best layout (one "serial"/"parallel" per layer).

    ``overrides`` are model/train config values for every trial (e.g. ``{"cf_run": ...}``; defaults: one
    epoch of 256 samples). ``sample_size`` users (0 = all) are used for training and validation.
    """
    import optuna

    out = Path(out)
    if trials < 1:
        raise ConfigError(f"search trials must be >= 1, got {trials}")
    if (out / "search.json").exists() or any(out.glob("trial_*")):
        raise ConfigError(f"{out} already holds a layout search; choose another --out")
    values = {**TRIAL_DEFAULTS, **(overrides or {})}
    model_cfg, train_cfg = resolve_configs("darec", {}, values, None)
    n_layers = count_layers(model_cfg.llm)
    out.mkdir(parents=True, exist_ok=True)
    data = sample_users(data_dir, out / "sample_data", sample_size, seed)
    rows: list[dict] = []

    def objective(trial: optuna.Trial) -> float:
        layout = [trial.suggest_categorical(f"layer_{i}", list(ADAPTER_TYPES)) for i in range(n_layers)]
        start = time.perf_counter()
        result = train_run(
            "darec",
            data,
            out / f"trial_{trial.number:03d}",
            overrides={**values, "adapter_layout": layout},
            progress=progress,
        )
        valid = result["valid"]
        score = valid.get(train_cfg.valid_metric, valid["mrr"])
        rows.append(
            {
                "trial": trial.number,
                "layout": layout,
                "score": score,
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
        save_json({"metric": train_cfg.valid_metric, "trials": rows}, out / "search.json")
        return score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(1, trials // 3)))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=trials)
    best = [study.best_params[f"layer_{i}"] for i in range(n_layers)]
    save_json(
        {
            "metric": train_cfg.valid_metric,
            "best_layout": best,
            "best_score": study.best_value,
            "trials": rows,
        },
        out / "search.json",
    )
    return best
