"""`laserrec prepare` never deletes a file it did not write, and replaces a dataset atomically."""

from __future__ import annotations

import os

import pytest

from cli_run import run, write_csv_dataset
from laserrec.data import dataset as dataset_mod
from laserrec.data.dataset import PreparedData
from laserrec.errors import DataError


def test_replacing_a_dataset_needs_overwrite_and_keeps_the_users_files(tmp_path):
    raw, out = write_csv_dataset(tmp_path / "raw"), tmp_path / "data"
    assert run("prepare", raw, "--out", out)[0] == 0
    (out / "NOTES.txt").write_text("mine")
    (out / "runs").mkdir()
    (out / "runs" / "config.json").write_text("{}")
    code, message = run("prepare", raw, "--out", out, "--min-core", "2")
    assert code == 2 and "--overwrite" in message
    assert (out / "NOTES.txt").read_text() == "mine"
    code, message = run("prepare", raw, "--out", out, "--min-core", "2", "--overwrite")
    assert code == 0, message
    assert (out / "NOTES.txt").read_text() == "mine" and (out / "runs" / "config.json").exists()
    assert PreparedData.load(out).meta["options"]["min_core"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "raw"]  # no temp folder left


@pytest.mark.parametrize("where", [".", "prepared"])
def test_out_equal_to_or_inside_the_source_is_refused(tmp_path, where):
    raw = write_csv_dataset(tmp_path / "raw")
    (raw / "meta.json").write_text('{"exported_by": "another tool"}')
    before = sorted(p.name for p in raw.iterdir())
    code, message = run("prepare", raw, "--out", raw / where)
    assert code == 2 and "source folder" in message
    assert sorted(p.name for p in raw.iterdir()) == before
    code, message = run("prepare", raw / "interactions.csv", "--out", raw, "--overwrite")
    assert code == 2 and sorted(p.name for p in raw.iterdir()) == before


def test_a_non_empty_folder_that_is_not_a_dataset_is_refused_even_with_overwrite(tmp_path):
    raw, out = write_csv_dataset(tmp_path / "raw"), tmp_path / "home"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    code, message = run("prepare", raw, "--out", out, "--overwrite")
    assert code == 2 and "not a prepared dataset" not in message and "refusing" in message
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]


def _failing_replace(fail_at: int):
    calls, real = {"n": 0}, os.replace

    def replace(src, dst):
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise OSError("disk full")
        real(src, dst)

    return replace


def test_a_failed_replacement_leaves_the_old_dataset_whole(tmp_path, monkeypatch):
    raw, out = write_csv_dataset(tmp_path / "raw"), tmp_path / "data"
    assert run("prepare", raw, "--out", out)[0] == 0
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(dataset_mod.os, "replace", _failing_replace(1))
    with pytest.raises(OSError, match="disk full"):
        run("prepare", raw, "--out", out, "--min-core", "2", "--overwrite")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "raw"]


def test_a_replacement_cut_between_two_files_is_refused_at_load(tmp_path, monkeypatch):
    raw, out = write_csv_dataset(tmp_path / "raw"), tmp_path / "data"
    assert run("prepare", raw, "--out", out)[0] == 0
    bigger = write_csv_dataset(tmp_path / "raw2", n_users=8)
    monkeypatch.setattr(dataset_mod.os, "replace", _failing_replace(2))  # sequences.npz new, the rest old
    with pytest.raises(OSError):
        run("prepare", bigger, "--out", out, "--overwrite")
    with pytest.raises(DataError, match="interrupted `laserrec prepare --overwrite`"):
        PreparedData.load(out)
