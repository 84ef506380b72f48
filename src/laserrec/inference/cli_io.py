"""What ``laserrec recommend`` reads from files and prints: histories, id lists, filters, result tables."""

from __future__ import annotations

import json
from pathlib import Path

from laserrec.data.io import at, json_lines
from laserrec.errors import ConfigError, DataError


def read_histories(path: Path) -> tuple[list[str | None], list[list[str]]]:
    """Per line a JSON list of raw ids, or an object with "history" (and optionally "user", echoed back)."""
    labels, histories = [], []
    for n, row in json_lines(path):
        label = None
        if isinstance(row, dict):
            label, row = row.get("user"), row.get("history")
        if not isinstance(row, list):
            raise DataError(f'{at(path, n)}: expected a list of raw item ids or {{"history": [...]}}')
        labels.append(None if label is None else str(label))
        histories.append([str(i) for i in row])
    return labels, histories


def read_id_file(path: Path | None) -> list[str] | None:
    """Raw ids, one per line (blank lines skipped), or None when no file was given."""
    if path is None:
        return None
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def where_filters(items: list[str]) -> dict | None:
    """``["brand=3M", "title~pen"]`` -> ``{"brand": "3M", "title": {"contains": "pen"}}``."""
    out: dict = {}
    for item in items:
        eq, tilde = item.find("="), item.find("~")
        cut = min(i for i in (eq, tilde) if i >= 0) if max(eq, tilde) >= 0 else -1
        if cut <= 0:
            raise ConfigError(f"--where {item!r}: expected FIELD=VALUE or FIELD~VALUE, e.g. brand=3M")
        field, value = item[:cut].strip(), item[cut + 1 :]
        out[field] = {"contains": value} if item[cut] == "~" else value
    return out or None


def print_recommendations(labels, histories, results, fmt: str) -> str:
    """A table per history (rank, id, title, brand, score) or JSON / JSON lines."""
    rows = [
        {**({"user": label} if label is not None else {}), "history": history, "items": list(items),
         "qualified": items.qualified, **({"skipped": items.skipped} if items.skipped else {})}
        for label, history, items in zip(labels, histories, results, strict=True)
    ]  # fmt: skip
    if fmt == "json":
        return json.dumps(rows if len(rows) > 1 else rows[0], indent=2)
    if fmt == "jsonl":
        return "\n".join(json.dumps(r) for r in rows)
    return "\n\n".join(_table(row) for row in rows)


def _table(row: dict) -> str:
    head = f"user {row['user']}: " if "user" in row else ""
    lines = [
        f"{head}top {len(row['items'])} of {row['qualified']:,} qualifying item(s) after "
        f"{len(row['history'])} history item(s)"
    ]
    if row.get("skipped"):
        lines.append(f"(left out, not in the catalog: {', '.join(row['skipped'])})")
    if not row["items"]:
        return "\n".join([*lines, "(no item passes these filters)"])
    lines += ["| rank | id | title | brand | score |", "|---|---|---|---|---|"]
    for i in row["items"]:
        title, brand = _cell(i["title"], 60), _cell(i["brand"], 20)
        lines.append(f"| {i['rank']} | {i['id']} | {title} | {brand} | {i['score']:.4f} |")
    return "\n".join(lines)


def _cell(text: str, width: int) -> str:
    text = text.replace("|", "/")
    return text if len(text) <= width else text[: width - 1] + "…"
