"""Damaged files and odd values in user data are one clear line (or a counted warning), never a traceback."""

from __future__ import annotations

import json

import pytest

from cli_run import one_line, run, train_sasrec
from conftest import make_data
from laserrec.data.readers import read_dataset


@pytest.mark.parametrize("name", ["items.jsonl", "meta.json", "sequences.npz"])
def test_a_truncated_file_of_a_prepared_dataset_is_named(tmp_path, name):
    data = make_data().save(tmp_path / "data")
    raw = (data / name).read_bytes()
    (data / name).write_bytes(raw[: len(raw) // 2])
    code, message = train_sasrec(data, tmp_path / "run")
    assert code == 2 and one_line(message) and name in message


def test_an_unclosed_quote_is_reported_where_it_opens(tmp_path):
    rows = ["user,item,timestamp"] + [f"u{k},i1,{k}" for k in range(2, 22)]
    rows[8] = 'u9,"i1,9'  # line 9; the quote runs on to the end of the file (line 21)
    (tmp_path / "x.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "x.jsonl").write_text(json.dumps({"item": "i1", "title": "One"}) + "\n")
    code, message = run("prepare", tmp_path, "--out", tmp_path.parent / "prepared")
    assert code == 2 and one_line(message)
    assert "line 9" in message and "line 21" in message.split("line 9", 1)[1]


def test_titles_that_are_not_text_or_clean_to_nothing_are_counted(tmp_path):
    items = {
        "1": {"title": {"en": "x"}},
        "2": {"title": ["a", "list"]},
        "3": {"title": "..."},
        "4": {"title": "Fine", "brand": {"name": "Acme"}},
    }
    (tmp_path / "S.item.json").write_text(json.dumps(items))
    (tmp_path / "S.inter.json").write_text(json.dumps({"u1": ["1", "2", "3", "4"]}))
    data = read_dataset(tmp_path)
    assert [t.title for t in data.items[1:]] == ["", "", "", "Fine"] and data.items[4].brand == ""
    warnings = data.meta["warnings"]
    assert warnings["title_not_text"] == 2 and warnings["title_emptied_by_cleaning"] == 1
    assert warnings["brand_not_text"] == 1 and warnings["items_without_title"] == 3
