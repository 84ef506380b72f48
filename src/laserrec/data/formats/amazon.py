"""Raw Amazon Review Data (2018): ``<Category>_5.json[.gz]`` reviews + ``meta_<Category>.json[.gz]``.

Both are JSON lines. Reviews need ``reviewerID``, ``asin`` and ``unixReviewTime``; meta records need
``asin`` and supply ``title``, ``brand``, ``category`` (a list, joined with ", " — the whole path, from
the top-level category down, so no information is lost) and ``description`` (list or string).

Preprocessing as in RecFormer / Laser: a review whose item has no meta record, or a meta record
without a title, is dropped (warning ``reviews_without_meta``; ``meta_without_title`` counts such
records). The time sort, exact-duplicate removal, optional dedup and k-core happen in ``build``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from laserrec.data.dataset import ItemText
from laserrec.data.io import field, ident, iter_json_lines, parse_time
from laserrec.data.raw import RawData, add_text, item_text
from laserrec.errors import DataError


def parse(reviews: Path, meta: Path | None) -> RawData:
    assert meta is not None, "amazon needs a meta file"
    warnings: Counter = Counter()
    texts = _read_meta(meta, warnings)
    events: dict[str, list[tuple[float, str]]] = {}
    for n, row in iter_json_lines(reviews):
        user = ident(field(row, "reviewerID", reviews, n), "reviewerID", reviews, n)
        item = ident(field(row, "asin", reviews, n), "asin", reviews, n)
        time = parse_time(field(row, "unixReviewTime", reviews, n), reviews, n)
        if item not in texts:
            warnings["reviews_without_meta"] += 1
            continue
        events.setdefault(user, []).append((time, item))
    if not events:
        raise DataError(f"{reviews}: no review is of an item with a titled record in {meta}")
    return RawData(events, texts, warnings)


def _read_meta(path: Path, warnings: Counter) -> dict[str, ItemText]:
    texts: dict[str, ItemText] = {}
    for n, row in iter_json_lines(path):
        asin = ident(field(row, "asin", path, n), "asin", path, n)
        text = item_text(
            row.get("title"), row.get("brand"), row.get("category"), row.get("description"), warnings
        )
        if not text.title:
            warnings["meta_without_title"] += 1
            continue
        add_text(texts, asin, text, warnings)
    return texts
