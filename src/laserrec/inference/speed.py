"""Inference speed of a trained model: users scored per second, items encoded per second."""

from __future__ import annotations

import time

import torch

from laserrec.data.dataset import EvalSet
from laserrec.models.base import Batch, Recommender, pad_left


@torch.inference_mode()
def inference_speed(
    net: Recommender, users: EvalSet, n_users: int = 256, n_items: int = 256, batch_size: int = 32
) -> dict:
    """Time full-ranking scoring of ``n_users`` users and, for text models, encoding ``n_items`` items.

    The item catalog is prepared first (not timed here), as a deployed recommender keeps it cached.
    ID models look items up in a table: their items/s is reported as None.
    """
    net.eval()
    net.prepare_for_eval()
    hist = users.histories[:n_users]
    start = time.perf_counter()
    for lo in range(0, len(hist), batch_size):
        chunk = hist[lo : lo + batch_size]
        net.full_sort_predict(
            Batch(pad_left(chunk, net.history_len), torch.zeros(len(chunk), dtype=torch.long))
        )
    users_per_s = len(hist) / (time.perf_counter() - start)
    items_per_s = None
    if hasattr(net, "encode_items"):
        ids = torch.arange(1, min(n_items, net.n_items) + 1)
        start = time.perf_counter()
        for lo in range(0, len(ids), batch_size):
            net.encode_items(ids[lo : lo + batch_size])
        items_per_s = round(len(ids) / (time.perf_counter() - start), 2)
    return {
        "users_per_second": round(users_per_s, 2),
        "items_per_second": items_per_s,
        "timed_users": len(hist),
        "batch_size": batch_size,
        "threads": torch.get_num_threads(),
    }
