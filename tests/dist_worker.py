"""Run by ``torchrun --nproc_per_node=N tests/dist_worker.py OUT`` (``test_distributed.py``): every rank
evaluates a seeded SASRec and a tiny Laser on the toy data and encodes Laser's catalog; rank 0 saves what
all ranks then hold (the gathered ranks, metrics and item matrix) to OUT for the test to compare with one
process. ``dist_worker.py --fail-on-rank-1`` fails on one rank only."""

from __future__ import annotations

import sys

import torch

from laserrec import distributed

K = (1, 5, 10)


def models_and_users():
    """The same models and users in every process (seeded; nothing trained)."""
    from conftest import make_data
    from laser_fixtures import N_ITEMS, make
    from laserrec.data.dataset import leave_one_out
    from laserrec.models.sasrec.config import SASRecConfig
    from laserrec.models.sasrec.model import SASRec
    from tiny_backbones import build_tiny_backbone

    data = make_data(n_users=37, n_items=N_ITEMS, max_len=8)  # 37 users: uneven shards
    torch.manual_seed(3)
    sasrec = SASRec(SASRecConfig(hidden_size=16, n_heads=2, inner_size=32, max_len=8), N_ITEMS)
    laser = make(build_tiny_backbone("llama"), encode_batch_size=2)
    return {"sasrec": sasrec, "laser": laser}, leave_one_out(data).test


def results() -> dict:
    """Ranks, metrics and (Laser) the item matrix, as computed with the process group there is."""
    from laserrec.evaluation.evaluator import evaluate

    models, users = models_and_users()
    out = {}
    for name, net in models.items():
        metrics, ranks = evaluate(net, users, net.history_len, K, batch_size=4, progress=False)
        out[name] = {"metrics": {k: v for k, v in metrics.items() if k != "seconds"}, "ranks": ranks}
    laser = models["laser"]
    laser.refresh_item_matrix()
    out["item_matrix"] = laser.item_matrix.clone()
    return out


def main(path: str) -> None:
    torch.set_num_threads(1)
    distributed.start(torch.device("cpu"))
    with distributed.leaving_at_end():
        found = {**results(), "world": distributed.world()}
        if distributed.is_main():
            torch.save(found, path)


def fail_on_rank_1() -> None:
    """Rank 1 raises while rank 0 enters a collective call (``--fail-on-rank-1``)."""
    torch.set_num_threads(1)
    distributed.start(torch.device("cpu"))
    with distributed.leaving_at_end():
        if distributed.rank() == 1:
            raise ValueError("rank 1 failed")
        distributed.sum_values([1.0])


if __name__ == "__main__":
    fail_on_rank_1() if sys.argv[1] == "--fail-on-rank-1" else main(sys.argv[1])
