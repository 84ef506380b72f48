"""Bad input raises ``DataError`` whose message names the file and the line (or key / value)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from laserrec.data.readers import read_dataset
from laserrec.errors import DataError

GOOD_ITEMS = {"1": {"title": "One"}, "2": {"title": "Two"}}
RECBOLE_HEADER = "user_id:token\titem_id:token\ttimestamp:float"


def expect_error(source: Path, *fragments: str, fmt: str | None = None) -> str:
    with pytest.raises(DataError) as err:
        read_dataset(source, fmt)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def write(folder: Path, **files: str) -> Path:
    for name, text in files.items():
        (folder / name.replace("__", ".")).write_text(text)
    return folder


# ------------------------------------------------------------------ lcrec
def lcrec(folder: Path, inter: str, items: str = json.dumps(GOOD_ITEMS)) -> Path:
    return write(folder, S__inter__json=inter, S__item__json=items)


def test_lcrec_malformed_json_names_file_and_line(tmp_path):
    expect_error(
        lcrec(tmp_path, '{"u1": [1, 2],\n "u2": [1,, 2]}'), "S.inter.json", "line 2", "malformed JSON"
    )


def test_lcrec_unknown_item_names_user_item_and_files(tmp_path):
    expect_error(
        lcrec(tmp_path, '{"u1": [1, 2], "u2": [2, 77]}'), "S.inter.json", "'u2'", "'77'", "S.item.json"
    )


def test_lcrec_item_without_title(tmp_path):
    items = json.dumps({"1": {"title": "One"}, "2": {"brand": "B"}})
    expect_error(lcrec(tmp_path, '{"u1": [1, 2]}', items), "S.item.json", "item '2'", "missing field 'title'")


@pytest.mark.parametrize(
    ("inter", "items", "file"),
    [("", None, "S.inter.json"), ("{}", None, "S.inter.json"), ('{"u": [1]}', " \n", "S.item.json")],
)
def test_lcrec_empty_files(tmp_path, inter, items, file):
    expect_error(lcrec(tmp_path, inter, items or json.dumps(GOOD_ITEMS)), file, "empty")


def test_lcrec_wrong_shapes(tmp_path):
    expect_error(lcrec(tmp_path, "[[1, 2]]"), "S.inter.json", "expected a JSON object")
    expect_error(lcrec(tmp_path, '{"u1": 1}'), "S.inter.json", "user 'u1'", "expected a list")
    expect_error(lcrec(tmp_path, '{"u1": [1, [2]]}'), "S.inter.json", "[2]", "not a valid id")


# ---------------------------------------------------------------- recbole
def recbole(folder: Path, *lines: str, header: str = RECBOLE_HEADER, item: str | None = None) -> Path:
    write(folder, x__inter="\n".join([header, *lines]) + "\n")
    if item is not None:
        write(folder, x__item=item)
    return folder


def test_recbole_non_numeric_timestamp(tmp_path):
    expect_error(recbole(tmp_path, "a\t1\t5", "a\t2\tabc"), "x.inter", "line 3", "'abc'", "not a number")


def test_recbole_missing_column_and_wrong_field_count(tmp_path):
    expect_error(
        recbole(tmp_path, "a\t1", header="user_id:token\titem_id:token"), "x.inter", "line 1", "'timestamp'"
    )
    expect_error(recbole(tmp_path, "a\t1\t5", "a\t2"), "x.inter", "line 3", "2 tab-separated fields")


def test_recbole_unknown_item_and_empty_file(tmp_path):
    item = "item_id:token\ttitle:token_seq\n1\tOne\n"
    expect_error(recbole(tmp_path, "a\t1\t5", "a\t9\t6", item=item), "x.inter", "line 3", "'9'", "x.item")
    write(tmp_path, x__inter="")
    expect_error(tmp_path, "x.inter", "empty")
    write(tmp_path, x__inter=RECBOLE_HEADER + "\n")
    expect_error(tmp_path, "x.inter", "no data rows")


def test_recbole_item_file_needs_title_column(tmp_path):
    expect_error(
        recbole(tmp_path, "a\t1\t5", item="item_id:token\tyear:token\n1\t1990\n"), "x.item", "'title'"
    )


# ----------------------------------------------------------------- amazon
def amazon(folder: Path, reviews: list[str], meta: list[str] | None = None) -> Path:
    meta = meta or ['{"asin": "A1", "title": "One"}']
    with gzip.open(folder / "meta_Cat.json.gz", "wt") as f:
        f.write("\n".join(meta) + "\n")
    return write(folder, Cat_5__json="\n".join(reviews) + "\n")


def test_amazon_malformed_line_and_missing_field(tmp_path):
    good = '{"reviewerID": "U", "asin": "A1", "unixReviewTime": 5}'
    expect_error(
        amazon(tmp_path, [good, '{"reviewerID": "U", "asin": '], []), "Cat_5.json", "line 2", "malformed"
    )
    expect_error(
        amazon(tmp_path, ['{"reviewerID": "U", "asin": "A1"}']), "Cat_5.json", "line 1", "'unixReviewTime'"
    )
    expect_error(amazon(tmp_path, [good], [good, '{"title": "x"}']), "meta_Cat.json.gz", "line 2", "'asin'")


def test_amazon_bad_timestamp_and_no_usable_review(tmp_path):
    bad = '{"reviewerID": "U", "asin": "A1", "unixReviewTime": "yesterday"}'
    expect_error(amazon(tmp_path, ["", bad]), "Cat_5.json", "line 2", "'yesterday'")
    other = '{"reviewerID": "U", "asin": "B7", "unixReviewTime": 5}'
    expect_error(amazon(tmp_path, [other]), "Cat_5.json", "meta_Cat.json.gz", "no review")


def test_amazon_broken_gzip(tmp_path):
    amazon(tmp_path, ['{"reviewerID": "U", "asin": "A1", "unixReviewTime": 5}'])
    meta = tmp_path / "meta_Cat.json.gz"
    truncated = meta.read_bytes()[:-12]
    meta.write_bytes(b"not gzip at all")
    expect_error(tmp_path, "meta_Cat.json.gz", "gzip")
    meta.write_bytes(truncated)
    expect_error(tmp_path, "meta_Cat.json.gz", "gzip")


# -------------------------------------------------------------------- csv
def csv_source(
    folder: Path, *rows: str, header: str = "user,item,timestamp", texts: str | None = None
) -> Path:
    texts = texts if texts is not None else '{"item": "i1", "title": "One"}\n{"item": "i2", "title": "Two"}\n'
    return write(folder, d__csv="\n".join([header, *rows]) + "\n", t__jsonl=texts)


def test_csv_missing_column_lists_header(tmp_path):
    expect_error(
        csv_source(tmp_path, "u,i1,1", header="user,product,timestamp"), "d.csv", "line 1", "item or item_id"
    )


def test_csv_bad_rows(tmp_path):
    expect_error(csv_source(tmp_path, "u,i1,1", "u,i2,2pm"), "d.csv", "line 3", "'2pm'")
    expect_error(csv_source(tmp_path, "u,i1,1", "u,i2"), "d.csv", "line 3", "2 fields")
    expect_error(csv_source(tmp_path, "u,i1,1", "u,i9,3"), "d.csv", "line 3", "'i9'", "t.jsonl")
    expect_error(csv_source(tmp_path, "u,,1"), "d.csv", "line 2", "empty item")
    expect_error(csv_source(tmp_path), "d.csv", "no interaction rows")


def test_csv_bad_item_text(tmp_path):
    expect_error(
        csv_source(tmp_path, "u,i1,1", texts='{"item": "i1", "title": "One"}\n{"item": "i2"}\n'),
        "t.jsonl",
        "line 2",
        "'title'",
    )
    expect_error(
        csv_source(tmp_path, "u,i1,1", texts='{"item": "i1", "title": "One"}\n{oops}\n'),
        "t.jsonl",
        "line 2",
        "malformed JSON",
    )
    expect_error(
        csv_source(tmp_path, "u,i1,1", texts="[1, 2]\n"), "t.jsonl", "line 1", "expected a JSON object"
    )
    expect_error(csv_source(tmp_path, "u,i1,1", texts=""), "t.jsonl", "empty")


def test_csv_empty_and_missing_text_file(tmp_path):
    write(tmp_path, d__csv="", t__jsonl='{"item": "i1", "title": "One"}\n')
    expect_error(tmp_path, "d.csv", "empty")
    (tmp_path / "t.jsonl").unlink()
    expect_error(tmp_path, "no item text file", "d.jsonl")


def test_not_utf8(tmp_path):
    csv_source(tmp_path, "u,i1,1")
    (tmp_path / "d.csv").write_bytes(b"user,item,timestamp\nu,\xff\xfe,1\n")
    expect_error(tmp_path, "d.csv", "not UTF-8")
