"""What ``--resume`` may change: settings that leave the checkpoint's meaning intact are applied (and said),
the rest are refused by name, so nothing given on the command line is dropped.

Safe: how long and how fast training goes on (``SAFE_ON_RESUME``). Everything else — every model setting, the
optimizer's, the sample order's, the validation users and metric — is what the checkpoint was made with.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from laserrec.errors import ConfigError

SAFE_ON_RESUME = (
    "epochs",
    "max_train_minutes",
    "patience",
    "min_epochs",
    "save_every_steps",
    "eval_batch_size",
    "threads",
    "grad_checkpointing",
)


def changed(old: dict, new: Any, skip: tuple[str, ...] = ()) -> list[tuple[str, Any, Any]]:
    """(key, old value, new value) for every field of the dataclass ``new`` that differs from ``old``; a
    field the run predates counts as its default."""
    values = dataclasses.asdict(new)
    defaults = {f.name: f.default for f in dataclasses.fields(new)}
    return [(k, old.get(k), v) for k, v in values.items() if k not in skip and old.get(k, defaults[k]) != v]


def _listed(changes: list[tuple[str, Any, Any]]) -> str:
    return ", ".join(f"{k} ({old!r} -> {new!r})" for k, old, new in changes)


def check_resume_settings(run_config: dict, model_cfg: Any, train_cfg: Any) -> list[str]:
    """Notices for the safe changes; a ``ConfigError`` naming every other change. ``cf_run`` is a place,
    not a setting: a new one is checked by its checkpoint hash (``training.inputs.find_cf``)."""
    model_changes = changed(run_config["model_config"], model_cfg, skip=("cf_run",))
    train_changes = changed(run_config["train"], train_cfg)
    refused = model_changes + [c for c in train_changes if c[0] not in SAFE_ON_RESUME]
    if refused:
        raise ConfigError(
            f"--resume cannot change {_listed(refused)}: the checkpoint was made with the run's values; "
            "start a new run in another --out for them "
            f"(safe to change on resume: {', '.join(SAFE_ON_RESUME)})"
        )
    return [f"resume: {k} {old!r} -> {new!r} (applied)" for k, old, new in train_changes]
