"""What every format reader produces before ids are remapped: raw events per user and raw item text."""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass, field

from laserrec.data.dataset import ItemText

_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w")


@dataclass
class RawData:
    """Interactions and item text under their raw ids, exactly as read (no filtering yet).

    ``events[user]`` lists ``(timestamp, item)`` in file order; users appear in order of their first
    line. Formats without timestamps use the position in the file as the timestamp.
    Every item in ``events`` has an entry in ``texts`` unless the format has no item text at all.
    """

    events: dict[str, list[tuple[float, str]]]
    texts: dict[str, ItemText]
    warnings: Counter = field(default_factory=Counter)


def clean_text(value: object, sep: str = " ") -> str:
    """Light cleaning: HTML entities unescaped, runs of whitespace collapsed, ends stripped.

    Text without a letter or digit becomes empty (scientific_lcrec has 313 descriptions that are ".").

    A list (e.g. Amazon's ``category`` or ``description``) is cleaned element-wise and joined with ``sep``.
    """
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return sep.join(part for part in (clean_text(v, sep) for v in value) if part)
    text = _SPACES.sub(" ", html.unescape(str(value))).strip()
    return text if _WORD.search(text) else ""


def item_text(
    title: object, brand: object = "", categories: object = "", description: object = ""
) -> ItemText:
    """An ``ItemText`` from raw field values; list-valued categories are joined with ", "."""
    return ItemText(
        title=clean_text(title),
        brand=clean_text(brand),
        categories=clean_text(categories, sep=", "),
        description=clean_text(description),
    )


def add_text(texts: dict[str, ItemText], item: str, text: ItemText, warnings: Counter) -> None:
    """Keep the first text record of an item; later duplicates are counted, not used."""
    if item in texts:
        warnings["duplicate_item_records"] += 1
    else:
        texts[item] = text
