"""Full-ranking evaluation holds at most ``MAX_SCORES`` scores at once, and the bound changes no rank."""

from __future__ import annotations

import torch

from laserrec.data.dataset import leave_one_out
from laserrec.evaluation import evaluator
from laserrec.models.sasrec.config import SASRecConfig
from laserrec.models.sasrec.model import SASRec


def test_a_small_bound_gives_the_same_ranks_in_more_batches(toy_data, monkeypatch):
    users = leave_one_out(toy_data).test
    net = SASRec(SASRecConfig(hidden_size=16, n_heads=2, inner_size=32, max_len=8), toy_data.n_items)
    _, free = evaluator.evaluate(net, users, 8, batch_size=64, progress=False)
    widths = []
    predict = net.full_sort_predict
    monkeypatch.setattr(net, "full_sort_predict", lambda b: widths.append(len(b)) or predict(b))
    monkeypatch.setattr(evaluator, "MAX_SCORES", 3 * (toy_data.n_items + 1))
    _, bounded = evaluator.evaluate(net, users, 8, batch_size=64, progress=False)
    assert torch.equal(free, bounded)
    assert max(widths) == 3 and sum(widths) == len(users)
