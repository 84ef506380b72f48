"""New items for a trained run, in the JSONL schema ``laserrec prepare`` reads for item text:
one object per line, ``{"item": ID, "title": ..., "brand": ..., "categories": ..., "description": ...}``
(``item`` required; at least one text field non-empty) — or a prepared dataset folder whose items were
hidden at ``prepare`` (``--hide-items``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from laserrec.data.dataset import ItemText
from laserrec.data.ids import MAX_ID, id_problem
from laserrec.data.io import at, json_lines
from laserrec.errors import ConfigError, DataError
from laserrec.inference.index import TEXT_FIELDS, ItemIndex
from laserrec.inference.recommender import INDEX_DIR, build_index, model_as_saved


class Addition:
    """Items being added to a loaded run, in the steps ``LoadedRun.add_items`` takes: ``encode`` (uses the
    model: it takes some of the items; after the last, the new index is made in memory; undone if it
    fails), ``save`` (no model call: the index written to the run's folder, atomically), ``commit`` (the run
    ranks with the new index: one assignment), or ``undo`` after a failed save (the model put back as the
    index on disk says). Until ``commit`` the run ranks exactly as before: the new items are in the model
    but in no index, so no history, candidate list or ranking can reach them."""

    def __init__(self, run, items: str | Path | Iterable[dict]) -> None:
        self.run, self.rows = run, read_new_items(items, run.index.position)
        self.ids = [row["item"] for row in self.rows]
        self.texts = [{k: row[k] for k in TEXT_FIELDS} for row in self.rows]
        self.index: ItemIndex | None = None

    def encode(self, lo: int = 0, hi: int | None = None) -> None:
        """The model takes items lo..hi-1 of this addition (the next after those it took already)."""
        run, old, hi = self.run, self.run.index, len(self.rows) if hi is None else hi
        try:
            run.net.add_items([ItemText(**t) for t in self.texts[lo:hi]])
            if hi == len(self.rows):
                raw_ids, texts = old.raw_ids + self.ids, old.texts + self.texts
                self.index = build_index(run.net, raw_ids, texts, old.n_trained, run.model, old.checkpoint)
        except NotImplementedError as e:  # an ID model refuses before it changes anything
            raise ConfigError(f"{run.model}: {e}") from None
        except BaseException:
            self.undo()
            raise

    def save(self) -> None:
        self.index.save(self.run.run_dir / INDEX_DIR)

    def commit(self) -> None:
        self.run.index = self.index.to(self.run.device)

    def undo(self) -> None:
        self.run.net = model_as_saved(self.run.run_dir, self.run.index, self.run.device)


def read_new_items(source: str | Path | Iterable[dict], catalog: dict[str, int]) -> list[dict]:
    """Checked rows ``{"item", *TEXT_FIELDS}`` (text as str), in order. ``catalog``: raw ids already held."""
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        rows = list(_hidden_rows(Path(source)))
    elif isinstance(source, (str, Path)):
        rows = list(_read_jsonl(Path(source)))
    else:
        rows = [(f"item {n}", row) for n, row in enumerate(source)]
    out, seen = [], set()
    for where, row in rows:
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected an object with an 'item' id, got {type(row).__name__}")
        unknown = sorted(set(row) - {"item", *TEXT_FIELDS})
        if unknown:
            raise DataError(f"{where}: unknown field(s) {unknown}; fields: item, {', '.join(TEXT_FIELDS)}")
        item = row.get("item")
        if not isinstance(item, (str, int)) or isinstance(item, bool) or not str(item).strip():
            raise DataError(f"{where}: 'item' must be a non-empty id, got {item!r}")
        item = str(item).strip()
        problem = id_problem(item)
        if problem:
            raise DataError(f"{where}: item id {item[:MAX_ID]!r} {problem}")
        if item in catalog or item in seen:
            raise DataError(f"{where}: item {item!r} is already in the catalog")
        text = {}
        for name in TEXT_FIELDS:
            value = row.get(name, "")
            if isinstance(value, list) and name == "categories":
                value = ", ".join(str(v) for v in value)
            if not isinstance(value, str):
                raise DataError(f"{where}: {name} must be text, got {type(value).__name__}")
            text[name] = " ".join(value.split())
        if not any(text.values()):
            raise DataError(f"{where}: item {item!r} has no text (title, brand, categories or description)")
        seen.add(item)
        out.append({"item": item, **text})
    if not out:
        raise DataError("no items to add")
    return out


def _hidden_rows(folder: Path):
    meta = folder / "meta.json"
    try:
        hidden = json.loads(meta.read_text(encoding="utf-8")).get("hidden_items") if meta.is_file() else None
    except ValueError as e:
        raise DataError(f"{meta}: not valid JSON ({e})") from None
    if not hidden:
        raise DataError(f"{folder}: not a prepared dataset with hidden items (laserrec prepare --hide-items)")
    for n, row in enumerate(hidden["items"]):
        yield f"{meta}: hidden item {n}", row


def _read_jsonl(path: Path):
    """(where, value) for each line of a JSON-lines file of items (``data.io.json_lines``)."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    for n, row in json_lines(path):
        yield at(path, n), row
