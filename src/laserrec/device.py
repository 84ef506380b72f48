"""The one place that knows about devices: which one to use, autocast for a frozen LLM, synchronising,
the random state and peak memory. Nothing else in laserrec names CUDA or MPS.

``--device auto`` picks the first CUDA GPU, else Apple's MPS, else the CPU. Under ``torchrun`` each
process takes the GPU of its ``LOCAL_RANK`` (``training.distributed``). CPU is the tested default.

On CUDA the frozen LLM's weights are bf16 (``dtype=auto``) and its forward runs under bf16 autocast;
every trainable part (M-Former, suffix, ID models, heads) keeps fp32 weights and runs outside it, and the
two meet at the join, where the prefix is cast to the LLM's dtype (``models/laser/inputs.py``).
"""

from __future__ import annotations

import contextlib
import os

import torch

from laserrec.errors import ConfigError

DEVICES = "auto | cpu | cuda | cuda:N | mps"


def cuda_available() -> bool:
    return torch.cuda.is_available()


def mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` / ``mps`` as a ``torch.device``, checked to exist here."""
    if isinstance(name, torch.device):
        name = str(name)
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if cuda_available() else "mps" if mps_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r}: expected {DEVICES}") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not cuda_available():
            raise ConfigError(f"--device {name}: this machine has no CUDA GPU that PyTorch can use")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s) (cuda:0 ...)"
            )
        _cuda_settings()
        return device
    if device.type == "mps":
        if not mps_available():
            raise ConfigError(f"--device {name}: MPS is not available on this machine")
        return device
    raise ConfigError(f"--device {name!r}: expected {DEVICES}")


def _cuda_settings() -> None:
    # cuBLAS is deterministic only with a fixed workspace, which must be asked for before it starts.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def local_device(device: torch.device, local_rank: int) -> torch.device:
    """The device of one process among several on a machine: its own GPU ``cuda:LOCAL_RANK``."""
    if device.type != "cuda":
        return device
    if local_rank >= torch.cuda.device_count():
        raise ConfigError(
            f"LOCAL_RANK {local_rank}: this machine has {torch.cuda.device_count()} CUDA GPU(s); start "
            "torchrun with --nproc_per_node at most that"
        )
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast around a frozen LLM's forward on CUDA; nothing elsewhere (the CPU path runs the
    weights' own dtype, chosen by ``llm.backbone.resolve_dtype``)."""
    if device.type == "cuda" and enabled:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def frozen_llm_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    """The dtype a frozen LLM's weights take on ``device``: bf16 on CUDA under ``auto``; None = as loaded."""
    return torch.bfloat16 if device.type == "cuda" and setting == "auto" else None


def attention_for(device: torch.device) -> str | None:
    """The attention a frozen LLM should use on ``device`` (None: laserrec's CPU attention, the default).
    On a GPU PyTorch's fused SDPA kernels beat two matmuls and a softmax."""
    return "sdpa" if device.type in ("cuda", "mps") else None


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (before reading a clock)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def rng_state(device: torch.device) -> dict:
    """The random state training draws from on ``device`` (the CPU generator, plus the GPU's own)."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict | torch.Tensor, device: torch.device) -> None:
    """Restore ``rng_state``'s output (or a bare CPU state, as older checkpoints hold)."""
    if isinstance(state, torch.Tensor):
        state = {"cpu": state}
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gb(device: torch.device) -> float | None:
    """Peak memory allocated on a GPU since the last reset (None on the CPU: see peak RSS instead)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1e9
    return None


def describe(device: torch.device) -> str:
    """E.g. "cuda:0 (NVIDIA H100 80GB HBM3)" or "cpu"."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return str(device)
