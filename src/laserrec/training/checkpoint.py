"""Checkpoints: a plain dict of trainable weights, optimizer, trainer state, RNG state and config.

Written atomically (temp file + rename), so a kill at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from laserrec.errors import CheckpointError


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, p)


def load_checkpoint(path: str | Path, config: dict | None = None, n_items: int | None = None) -> dict:
    """Load and check that the checkpoint was made with ``config`` on a dataset of ``n_items`` items."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p} does not exist")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a damaged file
        raise CheckpointError(f"checkpoint {p} cannot be read: {e}") from None
    if n_items is not None and ckpt.get("n_items") != n_items:
        raise CheckpointError(f"{p}: made for {ckpt.get('n_items')} items, but the dataset has {n_items}")
    if config is not None and ckpt.get("model_config") != config:
        changed = sorted(
            k
            for k in set(config) | set(ckpt.get("model_config", {}))
            if config.get(k) != ckpt.get("model_config", {}).get(k)
        )
        raise CheckpointError(f"{p}: model config differs from the run's in {changed}")
    return ckpt
