"""Training samples from the leave-one-out training sequences, and their batches.

"sequence" mode: windows of max_len + 1 items cut from the end of each sequence (stride max_len),
so every training target is predicted once per epoch with up to max_len items of context.
"prefix" mode: one (most recent max_len items, next item) pair per position (Laser, RecFormer), or with
``train_on=heldout`` one pair per user: its validation step, for users outside the validation sample.

Under torchrun (N processes) every rank draws the same batch order from (seed, epoch) and takes a
contiguous share of the rows of each global batch (sizes differ by at most one), padded as the whole
batch is. ``share`` = its loss terms / the batch's (real targets in "sequence" mode, samples in "prefix"
mode); the trainer scales each rank's mean loss by N * share before DDP averages the gradients,
so the step is the one a single process takes on the whole batch. A rank whose share is empty (a batch
smaller than N) runs the batch's first sample with share 0, as DDP needs every rank in every step.
"""

from __future__ import annotations

import numpy as np
import torch

from laserrec.data.dataset import EvalSet
from laserrec.models.base import Batch, pad_left


def sequence_windows(train: list[np.ndarray], max_len: int) -> list[np.ndarray]:
    windows = []
    for seq in train:
        for end in range(len(seq), 1, -max_len):
            windows.append(seq[max(0, end - max_len - 1) : end])
    return windows


def prefix_pairs(
    train: list[np.ndarray], max_len: int, last_only: bool = False
) -> list[tuple[np.ndarray, int]]:
    """(up to max_len items before t, item t) for every t >= 1, or only the last t."""
    steps = lambda seq: [len(seq) - 1] if last_only else range(1, len(seq))  # noqa: E731
    return [(seq[max(0, t - max_len) : t], int(seq[t])) for seq in train if len(seq) > 1 for t in steps(seq)]


def heldout_sequences(valid: EvalSet, validated: EvalSet) -> list[np.ndarray]:
    """History + validation item of every validation user not in ``validated`` (for ``train_on=heldout``)."""
    keep = ~np.isin(valid.users, validated.users)
    return [np.append(valid.histories[k], valid.targets[k]) for k in np.flatnonzero(keep)]


class SampleSet:
    """All training samples of one mode; ``batches(epoch)`` yields a seeded, reproducible order."""

    def __init__(
        self,
        train: list[np.ndarray],
        mode: str,
        max_len: int,
        seed: int,
        per_epoch: int = 0,
        last_only: bool = False,
    ):
        """``last_only`` (prefix mode): one sample per sequence, its last item as the target."""
        if mode not in ("sequence", "prefix"):
            raise ValueError(f"unknown train mode {mode!r}")
        self.mode, self.max_len, self.seed, self.per_epoch = mode, max_len, seed, per_epoch
        self.samples = (
            sequence_windows(train, max_len)
            if mode == "sequence"
            else prefix_pairs(train, max_len, last_only)
        )

    def __len__(self) -> int:
        n = len(self.samples)
        return min(n, self.per_epoch) if self.per_epoch else n

    def length(self, i: int) -> int:
        return len(self.samples[i]) - 1 if self.mode == "sequence" else len(self.samples[i][0])

    def batch_order(self, epoch: int, batch_size: int) -> list[np.ndarray]:
        """Shuffled batches of similar length (less padding), in shuffled order; a function of (seed, epoch).

        Samples are shuffled, cut into pools of 50 batches, sorted by length inside each pool, and
        batched; then the batch order is shuffled again.
        """
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.samples))[: len(self)]
        pool = 50 * batch_size
        batches = []
        for lo in range(0, len(order), pool):
            chunk = order[lo : lo + pool]
            chunk = chunk[np.argsort([self.length(i) for i in chunk], kind="stable")]
            batches.extend(chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size))
        return [batches[i] for i in rng.permutation(len(batches))]

    def n_batches(self, batch_size: int) -> int:
        """len(batch_order(...)), counted without shuffling: full pools of 50 batches plus the rest."""
        full_pools, rest = divmod(len(self), 50 * batch_size)
        return 50 * full_pools + -(-rest // batch_size)

    def batch(self, idx: np.ndarray) -> Batch:
        """Padded to the longest sample of the batch, not to max_len (positions count from the right)."""
        width = max(self.length(i) for i in idx)
        if self.mode == "sequence":
            windows = pad_left([self.samples[i] for i in idx], width + 1)  # (B, width + 1)
            return Batch(windows[:, :-1], windows[:, 1:])
        hist = pad_left([self.samples[i][0] for i in idx], max(1, width))
        return Batch(hist, torch.tensor([self.samples[i][1] for i in idx]))

    def batches(self, epoch: int, batch_size: int, start: int = 0):
        """Yield (step, batch) for one epoch, starting at ``start`` (to resume mid-epoch)."""
        order = self.batch_order(epoch, batch_size)
        for step in range(start, len(order)):
            yield step, self.batch(order[step])

    def shards(self, epoch: int, batch_size: int, start: int = 0, rank: int = 0, world: int = 1):
        """Yield (step, batch, share): ``batches`` with share 1.0 alone; this rank's share of each global
        batch under torchrun (module docstring)."""
        for step, whole in self.batches(epoch, batch_size, start):
            if world == 1:
                yield step, whole, 1.0
                continue
            lo, hi = _bounds(len(whole), rank, world)
            if lo == hi:
                yield step, Batch(whole.history[:1], whole.target[:1]), 0.0
                continue
            mine = Batch(whole.history[lo:hi], whole.target[lo:hi])
            yield step, mine, _terms(mine) / _terms(whole)


def _bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """Rank ``rank``'s contiguous rows of ``n`` (as ``np.array_split``: the first n % world get one more)."""
    size, extra = divmod(n, world)
    lo = rank * size + min(rank, extra)
    return lo, lo + size + (rank < extra)


def _terms(batch: Batch) -> int:
    """Loss terms: the real targets (every position of a window in "sequence" mode, one per sample in
    "prefix" mode)."""
    return int((batch.target > 0).sum())
