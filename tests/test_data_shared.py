"""The real datasets in ../shared/datasets (skipped when absent): counts and ids match SOURCE.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from laserrec.data.prepare import prepare_dataset
from laserrec.data.readers import detect_format

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"

pytestmark = pytest.mark.slow


def shared(name: str) -> Path:
    folder = SHARED / name
    if not folder.is_dir():
        pytest.skip(f"{folder} not available")
    return folder


def test_scientific_lcrec(tmp_path):
    source = shared("scientific_lcrec")
    assert detect_format(source) == "lcrec"
    data = prepare_dataset(source, tmp_path / "sci")
    assert (data.n_users, data.n_items, data.n_interactions) == (8317, 4344, 58492)
    assert data.meta["warnings"] == {}
    # Raw ids are 0-based in first-appearance order already, so internal id = raw id + 1 throughout.
    raw = json.loads((source / "Scientific.inter.json").read_text())
    assert data.user_ids == list(raw)
    assert all(
        s.tolist() == [i + 1 for i in raw[u]] for u, s in zip(data.user_ids, data.sequences, strict=True)
    )
    assert data.items[1].title.startswith("SUPCO SPP6 Relay/Capacitor Hard Start Kit")
    assert data.items[1].brand == "Sealed Unit Parts Co., Inc."


def test_ml_100k(tmp_path):
    source = shared("ml-100k")
    assert detect_format(source) == "recbole"
    data = prepare_dataset(source, tmp_path / "ml")
    assert (data.n_users, data.n_items, data.n_interactions) == (943, 1682, 100000)
    assert data.meta["warnings"] == {"timestamp_ties": 50561}
    toy = data.items[data.item_ids.index("1") + 1]  # internal id = position + 1
    assert (toy.title, toy.categories) == ("Toy Story (1995)", "Animation, Children's, Comedy")
    # Stable order: for user 196 the events are their .inter rows sorted by timestamp, ties in file order.
    rows = [line.split("\t") for line in (source / "ml-100k.inter").read_text().splitlines()[1:]]
    expected = [r[1] for r in sorted((r for r in rows if r[0] == "196"), key=lambda r: float(r[3]))]
    assert [data.item_ids[i - 1] for i in data.sequences[0]] == expected


def test_games_llmrank_from_its_benchmark_files(tmp_path):
    source = shared("games_llmrank")
    assert detect_format(source) == "recbole-benchmark"
    data = prepare_dataset(source, tmp_path / "games")
    stats = data.statistics()
    # SOURCE.md: 50,546 users, 16,859 items, 440,264 interactions, avg 8.71 (min 5, median 6), titles only
    assert (data.n_users, data.n_items, data.n_interactions) == (50546, 16859, 440264)
    assert (stats["avg_length"], stats["min_length"], stats["median_length"]) == (8.71, 5, 6.0)
    filled = stats["items_with_text"]
    assert filled["title"] == "16859/16859" and filled["brand"] == "0/16859"
    assert data.meta["warnings"] == {}
    first = source / "Games-6k.test.inter"
    user, history, target = first.read_text().splitlines()[1].split("\t")
    assert data.user_ids[0] == user
    assert [data.item_ids[i - 1] for i in data.sequences[0]] == history.split() + [target]
    assert data.items[data.sequences[0][0]].title == "Fire Emblem: The Sacred Stones"
