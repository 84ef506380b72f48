"""RecBole atomic files: tab-separated, header ``name:type``.

``X.inter`` needs ``user_id``, ``item_id`` and ``timestamp`` (other columns, e.g. ``rating``, are ignored).
The optional ``X.item`` needs ``item_id`` and a title column; it maps
``movie_title``/``title`` -> title, ``class``/``genre`` (space-separated tokens) -> categories joined
with ", ", ``categories`` -> categories as written, ``brand`` -> brand, ``description`` -> description.
A column whose name ends in ``year`` (ml-100k's ``release_year``) is appended to the title in
parentheses: "Toy Story (1995)". Other columns are ignored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from laserrec.data.dataset import ItemText
from laserrec.data.io import at, ident, open_text, parse_time
from laserrec.data.raw import RawData, add_text, item_text
from laserrec.errors import DataError

TITLE_COLUMNS = ("movie_title", "title")
GENRE_COLUMNS = ("class", "genre")


def parse(inter_file: Path, item_file: Path | None) -> RawData:
    warnings: Counter = Counter()
    texts = _read_items(item_file, warnings) if item_file is not None else {}
    events: dict[str, list[tuple[float, str]]] = {}
    for n, row in _rows(inter_file, [("user_id",), ("item_id",), ("timestamp",)]):
        user = ident(row["user_id"], "user_id", inter_file, n)
        item = ident(row["item_id"], "item_id", inter_file, n)
        if item_file is not None and item not in texts:
            raise DataError(f"{at(inter_file, n)}: item {item!r} has no entry in {item_file}")
        events.setdefault(user, []).append((parse_time(row["timestamp"], inter_file, n), item))
    return RawData(events, texts, warnings)


def _rows(path: Path, required: list[tuple[str, ...]]) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows as ``{column name: value}``; each ``required`` group needs one of its names in the header."""
    with open_text(path) as f:
        header = f.readline().rstrip("\r\n")
        if not header.strip():
            raise DataError(f"{path}: file is empty")
        names = [column.split(":")[0].strip() for column in header.split("\t")]
        for group in required:
            if not any(name in names for name in group):
                wanted = " or ".join(f"{name!r}" for name in group)
                raise DataError(f"{at(path, 1)}: missing column {wanted}; the header has {names}")
        seen = False
        for n, line in enumerate(f, start=2):
            values = line.rstrip("\r\n").split("\t")
            if not line.strip():
                continue
            if len(values) != len(names):
                raise DataError(
                    f"{at(path, n)}: {len(values)} tab-separated fields, the header has {len(names)}"
                )
            seen = True
            yield n, dict(zip(names, values, strict=True))
    if not seen:
        raise DataError(f"{path}: no data rows after the header")


def _read_items(path: Path, warnings: Counter) -> dict[str, ItemText]:
    texts: dict[str, ItemText] = {}
    for n, row in _rows(path, [("item_id",), TITLE_COLUMNS]):
        title = next(row[c] for c in TITLE_COLUMNS if c in row)
        years = [row[c].strip() for c in row if c.endswith("year") and row[c].strip()]
        if years:
            title = f"{title.strip()} ({', '.join(years)})"
        genres = [", ".join(row[c].split()) for c in GENRE_COLUMNS if c in row]
        categories = ", ".join(g for g in genres + [row.get("categories", "")] if g)
        text = item_text(title, row.get("brand", ""), categories, row.get("description", ""), warnings)
        add_text(texts, ident(row["item_id"], "item_id", path, n), text, warnings)
    return texts
