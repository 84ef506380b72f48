"""prepare_dataset: atomic, deterministic output; save/load round trip; leave-one-out split."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from laserrec.data.dataset import ItemText, PreparedData, leave_one_out
from laserrec.data.prepare import prepare_dataset, summary
from laserrec.errors import DataError

FILES = ("meta.json", "sequences.npz", "items.jsonl")


def write_source(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        "user_id,item_id,time",
        "u1,b,2",
        "u1,a,1",
        "u2,a,7",
        "u2,c,7",
        "u2,a,7",
        "u3,c,1",
        "u4,b,3",
        "u4,c,4",
    ]
    (folder / "log.csv").write_text("\n".join(rows) + "\n")
    texts = [
        {
            "item": "a",
            "title": "Apple",
            "brand": "Orchard",
            "categories": "Fruit",
            "description": "Red &amp; round",
        },
        {"item": "b", "title": "Banana"},
        {"item": "c", "title": "Cherry", "categories": ["Fruit", "Stone fruit"]},
    ]
    (folder / "text.jsonl").write_text("".join(json.dumps(t) + "\n" for t in texts))
    return folder


def test_prepare_writes_a_loadable_dataset(tmp_path):
    data = prepare_dataset(write_source(tmp_path / "raw"), tmp_path / "out", name="fruit")
    assert [s.tolist() for s in data.sequences] == [[1, 2], [1, 3], [3], [2, 3]]
    assert data.item_ids == ["a", "b", "c"] and data.user_ids == ["u1", "u2", "u3", "u4"]
    assert data.meta["format"] == "csv" and data.meta["source"] == str((tmp_path / "raw").resolve())
    assert data.meta["warnings"] == {"duplicate_rows": 1, "timestamp_ties": 1}
    assert data.meta["options"] == {"min_core": 0, "dedup": False, "min_length": 1}
    loaded = PreparedData.load(tmp_path / "out")
    assert [s.tolist() for s in loaded.sequences] == [s.tolist() for s in data.sequences]
    assert loaded.items == data.items and loaded.items[1].description == "Red & round"
    assert (loaded.user_ids, loaded.item_ids, loaded.name) == (data.user_ids, data.item_ids, "fruit")
    for key in ("warnings", "filtering", "options", "format", "source", "files"):
        assert loaded.meta[key] == data.meta[key]
    assert loaded.meta["statistics"] == data.statistics()


def test_prepare_is_byte_identical_across_runs(tmp_path, monkeypatch):
    source = write_source(tmp_path / "raw")
    prepare_dataset(source, tmp_path / "one", min_core=2)
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)  # a later clock must not change any byte
    prepare_dataset(source, tmp_path / "two", min_core=2)
    prepare_dataset(source, tmp_path / "two", min_core=2, overwrite=True)  # replacing a prepared one
    for name in FILES:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_bad_input_leaves_no_output(tmp_path):
    source = write_source(tmp_path / "raw")
    (source / "log.csv").write_text("user,item,timestamp\nu1,a,1\nu1,zzz,2\n")
    with pytest.raises(DataError, match="line 3"):
        prepare_dataset(source, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "precious.txt").write_text("keep me")
    with pytest.raises(DataError, match="refusing to overwrite"):
        prepare_dataset(write_source(tmp_path / "raw"), tmp_path / "out")
    assert (tmp_path / "out" / "precious.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "raw"]


def test_options_are_applied_and_recorded(tmp_path):
    data = prepare_dataset(write_source(tmp_path / "raw"), tmp_path / "out", min_core=2, dedup=True)
    # 2-core: u3 (1 event) goes; then every remaining item has 2 events.
    assert [s.tolist() for s in data.sequences] == [[1, 2], [1, 3], [2, 3]]
    assert data.meta["filtering"] == {
        "dedup_removed": 0,
        "kcore_removed_users": 1,
        "kcore_removed_items": 0,
        "kcore_removed_interactions": 1,
    }
    assert "filtering" in summary(data) and "4 users" not in summary(data)


def test_summary_lists_statistics_and_warnings(tmp_path):
    text = summary(prepare_dataset(write_source(tmp_path / "raw"), tmp_path / "out"))
    assert "4 users, 3 items, 7 interactions" in text
    assert '"duplicate_rows": 1' in text and '"timestamp_ties": 1' in text


def make_data(*sequences: list[int]) -> PreparedData:
    n_items = max(max(s) for s in sequences if s)
    items = [ItemText()] + [ItemText(title=f"item {i}") for i in range(1, n_items + 1)]
    users = [f"u{k}" for k in range(len(sequences))]
    arrays = [np.array(s, dtype=np.int64) for s in sequences]
    return PreparedData(arrays, items, users, [str(i) for i in range(1, n_items + 1)])


def test_leave_one_out_exact_split():
    split = leave_one_out(make_data([1, 2, 3, 4], [2, 3], [3, 1, 2], [5]))
    assert [t.tolist() for t in split.train] == [[1, 2], [2, 3], [3], [5]]
    assert split.skipped_users == 2 and split.n_items == 5
    assert split.valid.users.tolist() == [0, 2] and split.test.users.tolist() == [0, 2]
    assert [h.tolist() for h in split.valid.histories] == [[1, 2], [3]]
    assert split.valid.targets.tolist() == [3, 1]
    assert [h.tolist() for h in split.test.histories] == [[1, 2, 3], [3, 1]]
    assert split.test.targets.tolist() == [4, 2]
    assert split.eval_set("test") is split.test and len(split.valid) == 2


def test_prepared_data_rejects_out_of_range_ids():
    with pytest.raises(DataError, match="outside 1..2"):
        PreparedData([np.array([1, 3])], [ItemText()] * 3, ["u"], ["a", "b"])
