"""Training samples from the leave-one-out training sequences, and their batches.

"sequence" mode: windows of max_len + 1 items cut from the end of each sequence (stride max_len),
so every training target is predicted once per epoch with up to max_len items of context.
"prefix" mode: one (most recent max_len items, next item) pair per position (Laser, RecFormer), or with
``train_on=heldout`` one pair per user: its validation step, for users outside the validation sample.
"""

from __future__ import annotations

import numpy as np
import torch

from laserrec.data.dataset import EvalSet
from laserrec.evaluation.evaluator import pad_left
from laserrec.models.base import Batch


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
