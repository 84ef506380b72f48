"""Full-ranking evaluation: every user scored against every item, batched as a (users × items) matrix."""

from __future__ import annotations

import time

import numpy as np
import torch
from tqdm.auto import tqdm

from laserrec.data.dataset import EvalSet
from laserrec.evaluation.metrics import mask_history, metrics_from_ranks, target_ranks
from laserrec.models.base import Batch, Recommender


def pad_left(seqs: list[np.ndarray], max_len: int) -> torch.Tensor:
    """Most recent ``max_len`` items of each sequence, left-padded with 0. Output shape: (B, max_len)."""
    out = np.zeros((len(seqs), max_len), dtype=np.int64)
    for row, s in enumerate(seqs):
        s = s[-max_len:]
        if len(s):
            out[row, max_len - len(s) :] = s
    return torch.from_numpy(out)


@torch.inference_mode()
def evaluate(
    model: Recommender,
    eval_set: EvalSet,
    max_len: int,
    ks: tuple[int, ...] = (5, 10, 20),
    batch_size: int = 1024,
    mask_seen: bool = False,
    progress: bool = True,
) -> tuple[dict, torch.Tensor]:
    """Rank every target among all items.

    Returns (metrics, ranks): metrics also record the protocol (users, mask_seen, tie rule);
    ranks are the 0-based target ranks, shape (len(eval_set),).
    """
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    model.prepare_for_eval()
    # Users sorted by history length, so each batch is padded only to its own longest history
    # (positions count from the right, so the width does not change any score); ranks are put back in order.
    lengths = np.array([min(len(h), max_len) for h in eval_set.histories])
    order = np.argsort(lengths, kind="stable")
    ranks = torch.zeros(len(eval_set), dtype=torch.long)
    for lo in tqdm(range(0, len(order), batch_size), desc="evaluate", leave=False, disable=not progress):
        idx = order[lo : lo + batch_size]
        hist = [eval_set.histories[i] for i in idx]
        width = max(1, int(lengths[idx].max()))
        batch = Batch(pad_left(hist, width), torch.from_numpy(eval_set.targets[idx]))
        scores = model.full_sort_predict(batch).float()  # (B, n_items + 1)
        if mask_seen:
            scores = mask_history(scores, pad_left(hist, max(len(h) for h in hist) or 1), batch.target)
        ranks[torch.from_numpy(idx)] = target_ranks(scores, batch.target)
    model.train(was_training)
    out = metrics_from_ranks(ranks, list(ks))
    out.update(
        users=len(eval_set),
        mask_seen=mask_seen,
        tie_rule="pessimistic",
        seconds=round(time.perf_counter() - start, 3),
    )
    return out, ranks
