import math

import numpy as np
import pytest
import torch

from laserrec.data.dataset import EvalSet
from laserrec.evaluation.evaluator import evaluate
from laserrec.evaluation.metrics import mask_history, metrics_from_ranks, target_ranks
from laserrec.models.base import Batch, Recommender, pad_left


def test_ranks_pessimistic_ties_and_padding_never_ranked():
    scores = torch.tensor([[100.0, 0.1, 0.5, 0.3, 0.5], [100.0, 0.9, 0.2, 0.1, 0.0]])
    ranks = target_ranks(scores, torch.tensor([2, 1]))
    # user 0: item 4 ties with the target and is ranked ahead of it; padding column 0 is ignored
    assert ranks.tolist() == [1, 0]


def test_all_equal_scores_give_worst_rank_and_nan_never_wins():
    scores = torch.zeros(1, 6)
    assert target_ranks(scores, torch.tensor([3])).tolist() == [4]
    nan_target = torch.tensor([[0.0, 0.2, float("nan"), 0.1]])
    assert target_ranks(nan_target, torch.tensor([2])).tolist() == [2]


def test_metrics_hand_computed():
    out = metrics_from_ranks(torch.tensor([1, 0]), [1, 2])
    assert out["recall@1"] == pytest.approx(0.5)
    assert out["recall@2"] == pytest.approx(1.0)
    assert out["ndcg@1"] == pytest.approx(0.5)
    assert out["ndcg@2"] == pytest.approx((1 / math.log2(3) + 1) / 2)
    assert out["mrr"] == pytest.approx(0.75)


def test_metrics_rank_beyond_cutoff_counts_zero_but_mrr_is_full():
    out = metrics_from_ranks(torch.tensor([20]), [10])
    assert out["recall@10"] == 0 and out["ndcg@10"] == 0
    assert out["mrr"] == pytest.approx(1 / 21)


def test_mask_history_keeps_target():
    scores = torch.tensor([[0.0, 0.9, 0.5, 0.8, 0.1]])
    masked = mask_history(scores, torch.tensor([[0, 1, 2]]), torch.tensor([2]))
    assert masked[0, 1] == float("-inf")
    assert masked[0, 2] == 0.5  # the target is in the history (a repeat) but stays rankable
    assert target_ranks(masked, torch.tensor([2])).tolist() == [1]  # only item 3 is ahead now


def test_pad_left():
    out = pad_left([np.array([1, 2, 3]), np.array([4])], 2)
    assert out.tolist() == [[2, 3], [0, 4]]


class FixedScores(Recommender):
    """Scores item j for every user as -|j - last history item - 1|: the next id wins."""

    train_mode = "sequence"

    def __init__(self, n_items):
        super().__init__()
        self.n_items = n_items
        self.config = type("C", (), {"max_len": 5})()

    def full_sort_predict(self, batch: Batch) -> torch.Tensor:
        ids = torch.arange(self.n_items + 1, dtype=torch.float)
        return -(ids[None, :] - batch.history[:, -1:].float() - 1).abs()


def test_evaluate_batched_matches_hand_ranks():
    model = FixedScores(10)
    es = EvalSet(np.arange(3), [np.array([1, 2]), np.array([5]), np.array([3, 9])], np.array([3, 7, 2]))
    metrics, ranks = evaluate(model, es, max_len=5, ks=(1, 3), batch_size=2, progress=False)
    # user 0: last 2 -> 3 scores 0 (rank 0). user 1: last 5 -> 6 best; 7 ties with 5 at -1 -> rank 2.
    # user 2: last 9 -> 10 best; item 2 scores -8, so items 3..10 are ahead of it -> rank 8
    assert ranks.tolist() == [0, 2, 8]
    assert metrics["recall@1"] == pytest.approx(1 / 3)
    assert metrics["recall@3"] == pytest.approx(2 / 3)
    assert metrics["mask_seen"] is False and metrics["users"] == 3
