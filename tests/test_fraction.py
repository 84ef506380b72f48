"""prepare --train-users: a deterministic, nested share of the users, every item under its id."""

import json

from cli_run import run, write_csv_dataset
from conftest import make_data
from laserrec.data.fraction import keep_users


def test_a_share_of_the_users_is_deterministic_disjoint_from_the_rest_and_nested():
    data = make_data(n_users=40)
    small, again, other = keep_users(data, 0.25, 3), keep_users(data, 0.25, 3), keep_users(data, 0.25, 4)
    assert small.user_ids == again.user_ids and len(small.user_ids) == 10
    assert small.user_ids != other.user_ids
    kept = set(small.user_ids)
    rest = [u for u in data.user_ids if u not in kept]
    assert kept.isdisjoint(rest) and len(kept) + len(rest) == data.n_users
    assert kept <= set(keep_users(data, 0.5, 3).user_ids)  # one permutation: 25% inside 50%
    assert small.user_ids == [u for u in data.user_ids if u in kept]  # file order kept
    assert small.item_ids == data.item_ids and small.items == data.items
    for user, seq in zip(small.user_ids, small.sequences, strict=True):
        assert seq.tolist() == data.sequences[data.user_ids.index(user)].tolist()
    assert small.meta["train_users"] == {"share": 0.25, "seed": 3, "count": 10, "users_dropped": 30}
    assert keep_users(data, 1.0, 3).user_ids == data.user_ids


def test_prepare_records_the_share_in_meta(tmp_path):
    raw = write_csv_dataset(tmp_path / "raw", n_users=8)
    code, out = run("prepare", raw, "--out", tmp_path / "half", "--train-users", "0.5", "--seed", "1")
    assert code == 0, out
    meta = json.loads((tmp_path / "half" / "meta.json").read_text())
    assert meta["train_users"]["count"] == 4 and meta["n_users"] == 4 and meta["n_items"] == 7
    code, message = run("prepare", raw, "--out", tmp_path / "bad", "--train-users", "1.5")
    assert code == 2 and "share must be in (0, 1]" in message
