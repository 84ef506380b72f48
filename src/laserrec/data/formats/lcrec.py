"""LC-Rec / LETTER JSON: ``X.inter.json`` ``{user: [item, ...]}`` (already in time order) and
``X.item.json`` ``{item: {"title", "description", "brand", "categories"}}``.

There are no timestamps; the position in the list is the order. ``title`` is required for every item,
the other fields default to empty.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from laserrec.data.dataset import ItemText
from laserrec.data.io import field, ident, load_json
from laserrec.data.raw import RawData, item_text
from laserrec.errors import DataError


def parse(inter_file: Path, item_file: Path | None) -> RawData:
    assert item_file is not None, "lcrec needs an item file"
    warnings: Counter = Counter()
    texts = _read_items(item_file, warnings)
    return RawData(_read_sequences(inter_file, texts, item_file), texts, warnings)


def _object(path: Path, what: str) -> dict:
    doc = load_json(path)
    if not isinstance(doc, dict):
        raise DataError(f"{path}: expected a JSON object {what}, got a {type(doc).__name__}")
    if not doc:
        raise DataError(f"{path}: file is empty (no entries)")
    return doc


def _read_items(path: Path, warnings: Counter) -> dict[str, ItemText]:
    texts = {}
    for key, entry in _object(path, '{item: {"title": ..., ...}}').items():
        where = f"item {key!r}"
        if not isinstance(entry, dict):
            raise DataError(f"{path}, {where}: expected an object with title/brand/categories/description")
        title = field(entry, "title", path, where)
        texts[ident(key, "item id", path, where)] = item_text(
            title, entry.get("brand"), entry.get("categories"), entry.get("description"), warnings
        )
    return texts


def _read_sequences(path: Path, texts: dict[str, ItemText], item_file: Path) -> dict:
    events = {}
    for user, items in _object(path, "{user: [item, ...]}").items():
        where = f"user {user!r}"
        if not isinstance(items, list):
            raise DataError(f"{path}, {where}: expected a list of item ids, got {type(items).__name__}")
        seq = []
        for pos, value in enumerate(items):
            item = ident(value, "item id", path, where)
            if item not in texts:
                raise DataError(
                    f"{path}, {where}: item {item!r} (position {pos + 1}) has no entry in {item_file}"
                )
            seq.append((float(pos), item))
        events[ident(user, "user id", path, where)] = seq
    return events
