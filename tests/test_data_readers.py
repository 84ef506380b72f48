"""Each raw-format reader on small hand-made files: exact remapped sequences, text, stable tie order."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from laserrec.data.readers import detect_format, read_dataset
from laserrec.errors import DataError


def seqs(data) -> dict[str, list[int]]:
    return {u: s.tolist() for u, s in zip(data.user_ids, data.sequences, strict=True)}


def write_lcrec(folder: Path) -> Path:
    items = {
        "10": {"title": "Alpha &amp; Co", "brand": " B1 ", "categories": "Cat,Sub", "description": "d  1"},
        "11": {"title": "Beta", "description": "."},
        "12": {"title": "Gamma", "brand": "B2"},
        "13": {"title": "Delta"},
        "99": {"title": "Never bought"},
    }
    inters = {"u1": [12, 10, 11], "u2": [10, 13], "u3": [], "u4": [11, 12, 13, 10]}
    (folder / "Toy.item.json").write_text(json.dumps(items))
    (folder / "Toy.inter.json").write_text(json.dumps(inters))
    return folder


def write_recbole(folder: Path) -> Path:
    inter = [
        "user_id:token\titem_id:token\trating:float\ttimestamp:float",
        *("a\t1\t5\t300", "b\t2\t3\t100", "a\t2\t4\t100", "a\t3\t4\t100"),
        *("b\t1\t2\t50", "a\t2\t4\t100", "c\t3\t1\t10"),
    ]
    item = [
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq",
        "1\tToy Story\t1995\tAnimation Children's Comedy",
        "2\tGoldenEye\t1995\tAction  Adventure",
        "3\tUsual Suspects, The\t\tCrime",
        "4\tUnused\t2000\tDrama",
    ]
    (folder / "toy.inter").write_text("\n".join(inter) + "\n")
    (folder / "toy.item").write_text("\n".join(item) + "\n")
    return folder


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def write_amazon(folder: Path) -> Path:
    meta = [
        {"asin": "A1", "title": "Widget &amp; Gadget", "brand": "Acme", "category": ["Top", "Mid", "Leaf"]},
        {"asin": "A2", "title": "Thing", "description": ["First part.", " Second part. "]},
        {"asin": "A3", "title": "", "brand": "X"},
        {"asin": "A1", "title": "A later duplicate record"},
        {"asin": "A4", "title": "Four", "description": "plain"},
    ]
    reviews = [
        {"reviewerID": "U1", "asin": "A2", "unixReviewTime": 200},
        {"reviewerID": "U1", "asin": "A1", "unixReviewTime": 100},
        {"reviewerID": "U2", "asin": "A3", "unixReviewTime": 50},
        {"reviewerID": "U2", "asin": "A4", "unixReviewTime": 60},
        {"reviewerID": "U2", "asin": "A1", "unixReviewTime": 60},
        {"reviewerID": "U1", "asin": "A2", "unixReviewTime": 300},
        {"reviewerID": "U3", "asin": "A9", "unixReviewTime": 1},
        {"reviewerID": "U1", "asin": "A1", "unixReviewTime": 100},
    ]
    with gzip.open(folder / "meta_Toys.json.gz", "wt", encoding="utf-8") as f:
        f.write(jsonl(meta))
    (folder / "Toys_5.json").write_text(jsonl(reviews))
    return folder


def write_csv(folder: Path, header: str = "user,item,timestamp,rating") -> Path:
    rows = ["u1,i1,10,5", "u2,i2,5,1", "u1,i2,5,3", "u1,i3,10,2", "u3,i3,1.5,1"]
    (folder / "clicks.csv").write_text("\n".join([header, *rows]) + "\n")
    texts = [
        {"item": "i1", "title": "One", "categories": ["A", "B"]},
        {"item": "i2", "title": "Two", "brand": "BrandX", "description": "desc"},
        {"item": "i3", "title": "Three"},
        {"item": "i4", "title": "Four"},
    ]
    (folder / "items.jsonl").write_text(jsonl(texts))
    return folder


def test_lcrec_sequences_text_and_drops(tmp_path):
    data = read_dataset(write_lcrec(tmp_path))
    assert data.meta["format"] == "lcrec" and data.name == "Toy"
    assert seqs(data) == {"u1": [1, 2, 3], "u2": [2, 4], "u4": [3, 1, 4, 2]}
    assert data.item_ids == ["12", "10", "11", "13"]
    alpha = data.items[2]
    assert (alpha.title, alpha.brand, alpha.categories, alpha.description) == (
        "Alpha & Co",
        "B1",
        "Cat,Sub",
        "d 1",
    )
    assert data.items[3].description == ""  # punctuation-only text counts as empty
    assert data.items[0].title == ""
    assert data.meta["warnings"] == {"items_without_interactions": 1, "short_users_dropped": 1}


def test_recbole_stable_ties_duplicates_and_titles(tmp_path):
    data = read_dataset(write_recbole(tmp_path))
    assert data.meta["format"] == "recbole"
    # a: item 2 and 3 share t=100 and keep file order; the exact duplicate row (a, 2, 100) is dropped.
    assert seqs(data) == {"a": [1, 2, 3], "b": [3, 1], "c": [2]}
    assert data.item_ids == ["2", "3", "1"]
    toy = data.items[3]
    assert (toy.title, toy.categories) == ("Toy Story (1995)", "Animation, Children's, Comedy")
    assert data.items[1].categories == "Action, Adventure"
    assert data.items[2].title == "Usual Suspects, The"  # empty year: no parentheses
    assert data.meta["warnings"] == {
        "duplicate_rows": 1,
        "items_without_interactions": 1,
        "timestamp_ties": 1,
    }


def test_recbole_without_item_file_has_empty_text(tmp_path):
    write_recbole(tmp_path)
    (tmp_path / "toy.item").unlink()
    data = read_dataset(tmp_path)
    assert seqs(data) == {"a": [1, 2, 3], "b": [3, 1], "c": [2]}
    assert all(t.title == "" for t in data.items)
    assert data.meta["warnings"]["items_without_text"] == 3


def test_amazon_preprocessing(tmp_path):
    data = read_dataset(write_amazon(tmp_path))
    assert data.meta["format"] == "amazon" and data.name == "Toys_5"
    # U2: A3 has no title (dropped); A4 and A1 tie at t=60 and keep file order. U3 only reviewed A9 (no meta).
    assert seqs(data) == {"U1": [1, 2, 2], "U2": [3, 1]}
    assert data.item_ids == ["A1", "A2", "A4"]
    a1, a2 = data.items[1], data.items[2]
    assert (a1.title, a1.brand, a1.categories) == ("Widget & Gadget", "Acme", "Top, Mid, Leaf")
    assert a2.description == "First part. Second part."
    assert data.meta["warnings"] == {
        "duplicate_item_records": 1,
        "duplicate_rows": 1,
        "meta_without_title": 1,
        "repeated_user_item": 1,
        "reviews_without_meta": 2,
        "timestamp_ties": 1,
    }


def test_amazon_dedup_and_k_core(tmp_path):
    write_amazon(tmp_path)
    assert seqs(read_dataset(tmp_path, dedup=True)) == {"U1": [1, 2], "U2": [3, 1]}
    # 2-core: A4 (1 event) goes, then U2 (1 left), then A1 (1 left); U1 keeps its two A2 events.
    core = read_dataset(tmp_path, min_core=2)
    assert seqs(core) == {"U1": [1, 1]} and core.item_ids == ["A2"]
    removed = {"kcore_removed_users": 1, "kcore_removed_items": 2, "kcore_removed_interactions": 3}
    assert core.meta["filtering"] == removed
    with pytest.raises(DataError, match="no user has"):
        read_dataset(tmp_path, dedup=True, min_core=2)


@pytest.mark.parametrize("header", ["user,item,timestamp,rating", "User_ID, item_id ,time,rating"])
def test_csv_reader(tmp_path, header):
    data = read_dataset(write_csv(tmp_path, header))
    assert data.meta["format"] == "csv"
    assert seqs(data) == {"u1": [1, 2, 3], "u2": [1], "u3": [3]}
    assert data.item_ids == ["i2", "i1", "i3"]
    assert data.items[2].categories == "A, B"
    assert (data.items[1].brand, data.items[1].description) == ("BrandX", "desc")


def test_csv_with_byte_order_mark(tmp_path):
    write_csv(tmp_path)
    (tmp_path / "clicks.csv").write_text("\ufeff" + (tmp_path / "clicks.csv").read_text(), encoding="utf-8")
    assert seqs(read_dataset(tmp_path)) == {"u1": [1, 2, 3], "u2": [1], "u3": [3]}


def test_min_length_drops_short_users(tmp_path):
    data = read_dataset(write_csv(tmp_path), min_length=2)
    assert seqs(data) == {"u1": [1, 2, 3]}
    assert data.meta["warnings"]["short_users_dropped"] == 2


@pytest.mark.parametrize(
    ("writer", "fmt", "file"),
    [
        (write_lcrec, "lcrec", "Toy.inter.json"),
        (write_recbole, "recbole", "toy.inter"),
        (write_amazon, "amazon", "Toys_5.json"),
        (write_csv, "csv", "clicks.csv"),
    ],
)
def test_detect_format_from_folder_or_file(tmp_path, writer, fmt, file):
    writer(tmp_path)
    assert detect_format(tmp_path) == fmt
    assert detect_format(tmp_path / file) == fmt
    assert read_dataset(tmp_path / file).n_items == read_dataset(tmp_path).n_items


def test_detect_format_failures_say_what_was_looked_for(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError) as err:
        detect_format(tmp_path)
    for fragment in ("lcrec", "*.inter.json", "recbole", "*.inter", "amazon", "*_5.json", "csv", "notes.txt"):
        assert fragment in str(err.value)
    write_csv(tmp_path)
    write_recbole(tmp_path)
    with pytest.raises(DataError, match="several formats"):
        detect_format(tmp_path)
    assert read_dataset(tmp_path, "csv").meta["format"] == "csv"
    with pytest.raises(DataError, match="no such file"):
        detect_format(tmp_path / "missing")
