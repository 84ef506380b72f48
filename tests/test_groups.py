"""The cold/warm split of the cold-start study, worked out by hand on a small fixture."""

import numpy as np

from cli_run import run, train_sasrec
from laserrec.data.dataset import ItemText, PreparedData, leave_one_out
from laserrec.evaluation.groups import cold_items, cold_threshold, grouped_metrics, popularity_groups


def test_cold_items_are_the_bottom_35_percent_of_training_counts_ties_together():
    counts = np.array([0, 5, 0, 1, 1, 9, 2, 7, 3, 4, 6])  # items 1..10; sorted: 0 1 1 2 3 4 5 6 7 9
    # share of items at or below a count: 0 -> 10%, 1 -> 30%, 2 -> 40%: 30% and 40% are both 5 points off
    # 35%, the lower count wins
    assert cold_threshold(counts) == 1
    assert cold_items(counts).tolist() == [False, False, True, True, True] + [False] * 6
    tied = np.array([0, 1, 1, 1, 1, 5])  # 80% at count 1, 100% at 5: the nearest share is 80%
    assert cold_items(tied).tolist() == [False, True, True, True, True, False]
    spread = np.array([0] + [2] * 3 + [3] * 10 + [4] * 7)  # 20 items: 15% at or below 2, 65% at or below 3
    assert cold_threshold(spread) == 2  # |15 - 35| < |65 - 35|


def test_users_fall_in_the_group_of_their_target_counted_on_training_sequences():
    # training part = all but the last two items; item 1 is seen in training 3 times, items 2..5 less
    seqs = [[1, 2, 1, 3], [1, 4, 5, 2], [1, 3, 4, 1], [2, 5, 3, 4]]
    data = PreparedData(
        [np.array(s) for s in seqs], [ItemText()] * 6, ["a", "b", "c", "d"], ["i1", "i2", "i3", "i4", "i5"]
    )
    split = leave_one_out(data)
    # training counts: item1 3 (a: 1,2,1? no: a trains on [1, 2]; b [1, 4]; c [1, 3]; d [2, 5])
    # -> item1 3, item2 2, item3 1, item4 1, item5 1; 35% of 5 counts (1 1 1 2 3): threshold 1
    groups = popularity_groups(split)
    # (shares at or below 1: 60%, nearer 35% than nothing below 1)
    # test targets: a 3 (cold), b 2 (warm), c 1 (warm), d 4 (cold)
    assert groups["cold"].tolist() == [True, False, False, True]
    assert groups["warm"].tolist() == [False, True, True, False]
    found = grouped_metrics(np.array([0, 4, 20, 1]), groups, ks=(1, 5))
    assert found["cold"]["users"] == 2 and found["cold"]["recall@1"] == 0.5 and found["cold"]["recall@5"] == 1
    assert found["warm"]["recall@5"] == 0.5 and found["all"]["mrr"] == (1 + 1 / 5 + 1 / 21 + 1 / 2) / 4


def test_evaluate_by_popularity_on_the_command_line(tmp_path, toy_dir):
    import json

    assert train_sasrec(toy_dir, tmp_path / "run")[0] == 0
    code, out = run("evaluate", tmp_path / "run", "--by", "popularity")
    assert code == 0, out
    found = json.loads(out)
    assert found["cold"]["users"] + found["warm"]["users"] == found["all"]["users"] == 40
    assert found["rule"]["cold_share"] == 0.35 and 0 < found["rule"]["cold_items"] < 30
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]
    assert abs(found["all"]["ndcg@10"] - metrics["ndcg@10"]) < 1e-9  # the same ranking as the run's test
    assert (tmp_path / "run" / "ranks_test.npy").exists()
    assert run("evaluate", tmp_path / "run", "--by", "price")[0] == 2
