"""Several processes started by ``torchrun``: one process group, who computes what, and how results meet.

``torchrun --nproc_per_node=N -m laserrec train ...`` starts N copies of the same command; each reads
``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` from its environment (``start``). The rules, the same for every
part of laserrec that splits work:

- **Training** (``training/samples.py``): every rank draws the same global batch order from (seed, epoch)
  and takes its contiguous share of each batch; DistributedDataParallel averages the gradients, each
  rank's loss weighted by its share of the batch's loss terms, so N processes step on the gradient one
  process computes for the whole batch.
- **Item encoding and evaluation**: the work is cut into the same batches one process would make; rank r
  computes batches r, r + N, r + 2N, ... and the rows are all-gathered (``fill_rows``). Every row is
  computed in the same batch, with the same padding, as in one process, and evaluation reduces the
  gathered integer ranks with the same function: no padded duplicate is ever counted.
- **Files**: only rank 0 writes checkpoints, logs, metrics and the item index (``is_main``); the others
  wait at a barrier and read what it wrote. Every rank must take part in each collective call, so every
  decision that ends a loop (time budget, Ctrl-C) is agreed first (``any_true``).

With one process (no ``torchrun``, or ``--nproc_per_node=1``) every function here is a no-op.
This module sits beside ``device.py`` rather than under ``training/`` because the models (item encoding)
and the evaluator use it, and models never import the training code.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import nn

from laserrec.device import local_device
from laserrec.errors import ConfigError

_DEVICE = torch.device("cpu")  # where collective tensors live (the GPU with NCCL, the CPU with gloo)


def launched() -> bool:
    """Whether this process is one of several started by torchrun."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def start(device: torch.device) -> torch.device:
    """Join torchrun's process group (NCCL on CUDA, gloo elsewhere) if this process was started by it;
    returns the device this process computes on (its own GPU, ``cuda:LOCAL_RANK``)."""
    global _DEVICE
    if not launched():
        return device
    device = local_device(device, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        if not dist.is_available():
            raise ConfigError("this PyTorch build has no torch.distributed; run with one process")
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", device_id=_device_id(device))
    _DEVICE = device if device.type == "cuda" else torch.device("cpu")
    return device


def _device_id(device: torch.device) -> torch.device | None:
    return device if device.type == "cuda" else None


def stop(clean: bool = True) -> None:
    """Leave the process group at the end of a command.

    After a clean end every rank first waits for the others (a barrier), so no rank tears its connections
    down while another is still working: gloo can abort a process that exits with a peer mid-work
    ("terminate called without an active exception"). After an error (``clean=False``) there is no
    barrier, as the other ranks may never reach it; torchrun stops them."""
    if dist.is_available() and dist.is_initialized():
        if clean and active():
            dist.barrier()
        dist.destroy_process_group()


@contextmanager
def leaving_at_end() -> Iterator[None]:
    """Run a command's body, then leave the process group: together after a clean end, at once after
    an error (``stop``)."""
    try:
        yield
    except BaseException:
        stop(clean=False)
        raise
    stop()


def barrier() -> None:
    if active():
        dist.barrier()


def my_share(n_chunks: int) -> range:
    """The chunks of ``n_chunks`` (in the one-process order) this rank computes: r, r + N, r + 2N, ..."""
    return range(rank(), n_chunks, world())


def fill_rows(out: torch.Tensor, mine: Sequence[int] | torch.Tensor) -> None:
    """Each rank has written the rows ``mine`` of ``out`` (rows, (n, ...)); afterwards every rank's ``out``
    holds every rank's rows. Ranks may hold different numbers of rows (padded for the exchange only)."""
    if not active():
        return
    index = torch.as_tensor(mine, dtype=torch.long).to(_DEVICE).reshape(-1)
    counts = [torch.zeros(1, dtype=torch.long, device=_DEVICE) for _ in range(world())]
    dist.all_gather(counts, torch.tensor([len(index)], device=_DEVICE))
    width = int(max(c.item() for c in counts))
    rows = out.new_zeros((width, *out.shape[1:])).to(_DEVICE)
    rows[: len(index)] = out[index.to(out.device)].to(_DEVICE)
    padded = torch.full((width,), -1, dtype=torch.long, device=_DEVICE)
    padded[: len(index)] = index
    all_rows = [torch.empty_like(rows) for _ in range(world())]
    all_index = [torch.empty_like(padded) for _ in range(world())]
    dist.all_gather(all_rows, rows)
    dist.all_gather(all_index, padded)
    for count, r, i in zip(counts, all_rows, all_index, strict=True):
        n = int(count.item())
        out[i[:n].to(out.device)] = r[:n].to(out.device, out.dtype)


def sum_values(values: Sequence[float]) -> list[float]:
    """The sum over ranks of each value (float64)."""
    if not active():
        return list(values)
    t = torch.tensor(list(values), dtype=torch.float64, device=_DEVICE)
    dist.all_reduce(t)
    return t.tolist()


def any_true(flag: bool) -> bool:
    """Whether any rank says True (a decision every rank then takes)."""
    return bool(flag) if not active() else sum_values([float(flag)])[0] > 0


def gather_objects(value: object) -> list:
    """Every rank's ``value`` (picklable), in rank order, on every rank."""
    if not active():
        return [value]
    out: list = [None] * world()
    dist.all_gather_object(out, value)
    return out


class TrainStep(nn.Module):
    """A model's ``calculate_loss`` as ``forward``, over its trainable parameters only: what DDP wraps.

    The model is held, not registered: DDP then syncs only the trainable parameters (shared with the
    model, the same tensors), never the frozen LLM's weights or the model's buffers (each rank computes
    the item matrix itself, all-gathered)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        object.__setattr__(self, "model", model)
        self.trainable = nn.ParameterList([p for p in model.parameters() if p.requires_grad])

    def forward(self, batch):
        return self.model.calculate_loss(batch)


def ddp(model: nn.Module, device: torch.device) -> nn.Module | None:
    """Under torchrun, ``batch -> (loss, logs)`` as the model's ``calculate_loss`` wrapped by DDP; None
    with one process (the model's own ``calculate_loss`` is then called)."""
    if not active():
        return None
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        TrainStep(model),
        device_ids=[device.index] if device.type == "cuda" else None,
        broadcast_buffers=False,
        find_unused_parameters=getattr(model, "ddp_unused_parameters", False),
    )
