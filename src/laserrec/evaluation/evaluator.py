"""Full-ranking evaluation: every user scored against every item, batched as a (users × items) matrix.

Memory is bounded whatever the catalog: a batch holds at most ``MAX_SCORES`` scores (fewer users per
batch for a large catalog), and only each user's integer rank is kept. On a device the scores stay there;
under torchrun rank r scores batches r, r + N, ... and the ranks are all-gathered (``laserrec.distributed``).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from tqdm.auto import tqdm

from laserrec import distributed
from laserrec.data.dataset import EvalSet
from laserrec.evaluation.metrics import mask_history, metrics_from_ranks, target_ranks
from laserrec.models.base import Batch, Recommender, pad_left

MAX_SCORES = 1 << 26  # scores per batch (256 MB in float32): 16,384 users of 4,096 items, 64 of a million


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
    ranks are the 0-based target ranks, shape (len(eval_set),). Under torchrun every rank must call it.
    """
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    model.prepare_for_eval()
    # Users sorted by history length, so each batch is padded only to its own longest history
    # (positions count from the right, so the width does not change any score); ranks are put back in order.
    lengths = np.array([min(len(h), max_len) for h in eval_set.histories])
    order = np.argsort(lengths, kind="stable")
    device = model.device
    ranks = torch.zeros(len(eval_set), dtype=torch.long, device=device)
    batch_size = max(1, min(batch_size, MAX_SCORES // (getattr(model, "n_items", 0) + 1)))
    batches = [order[lo : lo + batch_size] for lo in range(0, len(order), batch_size)]
    mine = distributed.my_share(len(batches))
    show = progress and distributed.is_main()
    for j in tqdm(mine, desc="evaluate", leave=False, disable=not show):
        idx = batches[j]
        hist = [eval_set.histories[i] for i in idx]
        width = max(1, int(lengths[idx].max()))
        batch = Batch(pad_left(hist, width), torch.from_numpy(eval_set.targets[idx])).to(device)
        scores = model.full_sort_predict(batch).float()  # (B, n_items + 1)
        if mask_seen:
            seen = pad_left(hist, max(len(h) for h in hist) or 1).to(device)
            scores = mask_history(scores, seen, batch.target)
        ranks[torch.from_numpy(idx).to(device)] = target_ranks(scores, batch.target)
    distributed.fill_rows(ranks, np.concatenate([batches[j] for j in mine]) if len(mine) else [])
    ranks = ranks.cpu()
    model.train(was_training)
    out = metrics_from_ranks(ranks, list(ks))
    out.update(
        users=len(eval_set),
        mask_seen=mask_seen,
        tie_rule="pessimistic",
        seconds=round(time.perf_counter() - start, 3),
    )
    return out, ranks
