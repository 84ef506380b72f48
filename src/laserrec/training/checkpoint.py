"""Checkpoints: a plain dict of trainable weights, optimizer, trainer state, RNG state and config.

Written atomically (temp file + rename), so a kill at any moment leaves the previous checkpoint intact.
Every checkpoint holds ``checksum``, a sha256 over the rest of its contents (tensor bytes included),
verified at load: a damaged file is refused by name instead of loading altered weights. The checksum
also identifies the checkpoint: a run that reads another run's model records it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from laserrec.errors import CheckpointError


def payload_checksum(payload: dict[str, Any]) -> str:
    """sha256 over every value of ``payload`` except ``checksum``, in a fixed order (keys sorted)."""
    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in payload.items() if k != "checksum"})
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        digest.update(f"tensor {t.dtype} {tuple(t.shape)}:".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        digest.update(f"dict {len(value)}:".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__} {len(value)}:".encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(f"{type(value).__name__} {value!r};".encode())


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    torch.save({**payload, "checksum": payload_checksum(payload)}, tmp)
    os.replace(tmp, p)


def load_checkpoint(path: str | Path, config: dict | None = None, n_items: int | None = None) -> dict:
    """Load, verify the checksum, and check that the checkpoint was made with ``config`` on a dataset of
    ``n_items`` items. A checkpoint written before checksums existed gets one computed on load."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p} does not exist")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a damaged file
        raise CheckpointError(f"checkpoint {p} cannot be read (damaged?): {_first_line(e)}") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"checkpoint {p} is not a laserrec checkpoint (a {type(ckpt).__name__})")
    found = payload_checksum(ckpt)
    if ckpt.setdefault("checksum", found) != found:
        raise CheckpointError(
            f"checkpoint {p} is damaged: its contents do not match the checksum saved with it "
            f"({found[:16]} != {str(ckpt['checksum'])[:16]}); train again or restore the file"
        )
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


def _first_line(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
