"""The columnar CSV path of ``prepare`` (polars) writes the same files, byte for byte, as the row-by-row
path, and hands every file it cannot vouch for to the row-by-row path (same errors, same data)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from laserrec.data import columnar
from laserrec.data.prepare import prepare_dataset
from laserrec.errors import DataError

pytest.importorskip("polars")

FILES = ("meta.json", "items.jsonl", "sequences.npz")


def write(folder, rows: list[str], n_items: int = 40, header: str = "user,item,timestamp") -> object:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inter.csv").write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    texts = [{"item": f"i{k}", "title": "" if k % 7 == 0 else f"thing {k}"} for k in range(n_items + 5)]
    (folder / "inter.jsonl").write_text("".join(json.dumps(t) + "\n" for t in texts), encoding="utf-8")
    return folder


def messy_rows(seed: int = 0, n: int = 3000, whole: bool = False) -> list[str]:
    """Ties, exact duplicate rows, repeated items, float (or only whole) times, users met again later."""
    rng = np.random.default_rng(seed)
    users, items = rng.integers(0, 150, n), rng.zipf(1.5, n) % 40
    times = rng.integers(0, 30, n).astype(float) / (1 if whole else rng.choice([1, 2], n))
    rows = [f"u{u},i{i},{t:g}" for u, i, t in zip(users, items, times, strict=True)]
    return rows + rows[:50]  # duplicates of earlier rows at the end


def both(monkeypatch, source, tmp_path, tag: str, **options):
    """Prepare ``source`` by both paths; returns the two output folders (or the two errors)."""
    outs = []
    for fast in (True, False):
        monkeypatch.setattr(columnar, "available", lambda fast=fast: fast)
        out = tmp_path / f"{tag}-{'fast' if fast else 'rows'}"
        try:
            prepare_dataset(source, out, "csv", **options)
            outs.append(out)
        except DataError as e:
            outs.append(str(e))
    return outs


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"dedup": True},
        {"min_core": 3},
        {"min_core": 2, "dedup": True, "min_length": 4},
        {"min_length": 5},
    ],
)
def test_the_same_files_byte_for_byte(monkeypatch, tmp_path, options):
    source = write(tmp_path / "raw", messy_rows())
    fast, rows = both(monkeypatch, source, tmp_path, "x", **options)
    for name in FILES:
        assert (fast / name).read_bytes() == (rows / name).read_bytes(), name
    meta = json.loads((fast / "meta.json").read_text())
    assert meta["warnings"]["duplicate_rows"] >= 50 and meta["warnings"]["timestamp_ties"] > 0


def test_the_columnar_path_is_the_one_taken_on_a_clean_file(monkeypatch, tmp_path):
    source = write(tmp_path / "raw", messy_rows(), header="user,item,timestamp")
    called = []
    build = columnar.build
    monkeypatch.setattr(columnar, "build", lambda *a: called.append(1) or build(*a))
    prepare_dataset(source, tmp_path / "out", "csv")
    assert called == [1]


@pytest.mark.parametrize(
    "bad",
    [
        "u1, i2,5",  # a padded id: the row-by-row path strips it
        "u1,i2,1_0",  # a time Python reads and polars does not
        "u1,i2,abc",  # not a time: the row-by-row path names the line
        "u1,nope,3",  # an item without text
        "u1,i2",  # a short row
        ",,",  # a blank row (skipped)
    ],
)
def test_a_file_it_cannot_vouch_for_goes_row_by_row(monkeypatch, tmp_path, bad):
    rows = messy_rows(n=200)
    source = write(tmp_path / "raw", rows[:100] + [bad] + rows[100:])
    fast, slow = both(monkeypatch, source, tmp_path, "bad")
    if isinstance(slow, str):
        assert fast == slow  # the same one-line error
    else:
        assert all((fast / n).read_bytes() == (slow / n).read_bytes() for n in FILES)


def test_extra_columns_and_blank_lines(monkeypatch, tmp_path):
    rows = [f"{r},{k % 5}" for k, r in enumerate(messy_rows(n=300))]
    source = write(tmp_path / "raw", rows[:10] + [""] + rows[10:], header="USER_ID,item_id,rating,Time")
    source.joinpath("inter.csv").write_text(
        "USER_ID,item_id,time,rating\n" + "\n".join(rows[:10] + [""] + rows[10:]) + "\n"
    )
    fast, slow = both(monkeypatch, source, tmp_path, "extra")
    assert all((fast / n).read_bytes() == (slow / n).read_bytes() for n in FILES)
