"""A plain CSV of interactions plus a JSON-lines file of item text.

The CSV header needs a user column (``user`` or ``user_id``), an item column (``item`` or
``item_id``) and a time column (``timestamp`` or ``time``, numeric); names are case-insensitive and
other columns are ignored. Each JSONL line is ``{"item": ..., "title": ..., "brand": ...,
"categories": ..., "description": ...}`` (``item_id`` also accepted; ``title`` required; list-valued
categories are joined with ", ").
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from laserrec.data.dataset import ItemText
from laserrec.data.io import at, field, ident, iter_json_lines, open_text, parse_time
from laserrec.data.raw import RawData, add_text, item_text
from laserrec.errors import DataError

COLUMNS = {"user": ("user", "user_id"), "item": ("item", "item_id"), "time": ("timestamp", "time")}


def parse(inter_file: Path, text_file: Path | None) -> RawData:
    assert text_file is not None, "csv needs an item text file"
    warnings: Counter = Counter()
    texts = _read_texts(text_file, warnings)
    return RawData(_read_interactions(inter_file, texts, text_file), texts, warnings)


def _read_texts(path: Path, warnings: Counter) -> dict[str, ItemText]:
    texts: dict[str, ItemText] = {}
    for n, row in iter_json_lines(path):
        key = "item" if "item" in row else "item_id"
        item = ident(field(row, key, path, n), "item", path, n)
        title = field(row, "title", path, n)
        add_text(
            texts,
            item,
            item_text(title, row.get("brand"), row.get("categories"), row.get("description"), warnings),
            warnings,
        )
    return texts


def _columns(header: list[str], path: Path) -> dict[str, int]:
    names = [name.strip().lower() for name in header]
    index = {}
    for role, choices in COLUMNS.items():
        found = [names.index(c) for c in choices if c in names]
        if not found:
            raise DataError(f"{at(path, 1)}: missing column {' or '.join(choices)}; the header has {header}")
        index[role] = found[0]
    return index


def _read_interactions(path: Path, texts: dict[str, ItemText], text_file: Path) -> dict:
    events: dict[str, list[tuple[float, str]]] = {}
    with open_text(path, newline="") as f:
        reader = csv.reader(f)
        start = 1  # the line the next row starts on: a quoted field may carry a row over several lines
        try:
            header = next(reader, None)
            if not header:
                raise DataError(f"{path}: file is empty")
            cols = _columns(header, path)
            for row in reader:
                n, start = _row_place(start, reader.line_num), reader.line_num + 1
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise DataError(f"{at(path, n)}: {len(row)} fields, the header has {len(header)}")
                item = ident(row[cols["item"]], "item", path, n)
                if item not in texts:
                    raise DataError(f"{at(path, n)}: item {item!r} has no entry in {text_file}")
                user = ident(row[cols["user"]], "user", path, n)
                events.setdefault(user, []).append((parse_time(row[cols["time"]], path, n), item))
        except csv.Error as e:
            raise DataError(f"{at(path, _row_place(start, reader.line_num))}: malformed CSV ({e})") from None
    if not events:
        raise DataError(f"{path}: no interaction rows after the header")
    return events


def _row_place(start: int, end: int) -> int | str:
    """Where a row is: its line, or, for a row carried over several lines by a quote, where it opens."""
    if end <= start:
        return start
    return f"line {start} (a quote opened there runs on to line {end}: is it closed?)"
