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
    title: object,
    brand: object = "",
    categories: object = "",
    description: object = "",
    warnings: Counter | None = None,
) -> ItemText:
    """An ``ItemText`` from raw field values; list-valued categories are joined with ", ".

    A value that is not text (a dict; a list, for a title or brand) is dropped and counted in ``warnings``
    as ``<field>_not_text``; a title that cleaning leaves empty is counted as ``title_emptied_by_cleaning``.
    """
    counts = Counter() if warnings is None else warnings
    return ItemText(
        title=_field_text(title, "title", counts),
        brand=_field_text(brand, "brand", counts),
        categories=_field_text(categories, "categories", counts, sep=", "),
        description=_field_text(description, "description", counts),
    )


def _field_text(value: object, name: str, warnings: Counter, sep: str = " ") -> str:
    if value is None or (isinstance(value, (str, list, tuple)) and not value):
        return ""
    lists = name in ("categories", "description")
    if not (_scalar(value) or (lists and isinstance(value, (list, tuple)) and all(map(_scalar, value)))):
        warnings[f"{name}_not_text"] += 1
        return ""
    text = clean_text(value, sep)
    if not text and name == "title":  # an item's name lost; an empty description loses little
        warnings["title_emptied_by_cleaning"] += 1
    return text


def _scalar(value: object) -> bool:
    """Text, or a number standing for text (a title "1984" read from JSON as 1984)."""
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def add_text(texts: dict[str, ItemText], item: str, text: ItemText, warnings: Counter) -> None:
    """Keep the first text record of an item; later duplicates are counted, not used."""
    if item in texts:
        warnings["duplicate_item_records"] += 1
    else:
        texts[item] = text
