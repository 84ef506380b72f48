"""The item index of a trained run: every item's vector (the fixed item side of the model's scores), its raw
id and text, and how the model scores (dot / cosine). Exact top-k is one matrix product per chunk of
items (memory bounded by the chunk, whatever the catalog's size); an approximate path uses FAISS.

A model with no fixed item matrix (the late fusion: two standardised score vectors mixed) scores "full":
its index holds the catalog with vectors of width 0, and the queries are the model's own scores of every
item (``full_sort_predict``), cut to the top k by the same filters.

On disk (``RUN/index/``), replaced atomically: the files of one generation are written first, then
``manifest.json`` is replaced to point at them, then the previous generation's files go. A process
killed at any point leaves the previous index whole.

    manifest.json        {"generation", "model", "scoring", "n_items", "n_trained", "dim", "checkpoint"}
    vectors-G.safetensors  vectors (n_items, d) float32 (items 1..n), bias (n_items,) when the model has one
    items-G.jsonl        one line per item: {"raw_id", "title", "brand", "categories", "description"}
"""

from __future__ import annotations

import heapq
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from laserrec.errors import ConfigError

CHUNK = 65_536  # items scored per matrix product: a (B, CHUNK) float32 block
TEXT_FIELDS = ("title", "brand", "categories", "description")
WORD = re.compile(r"\w+")


@dataclass
class ItemIndex:
    """Items 1..n as rows 0..n-1. ``n_trained`` items came from training; the rest were added by text."""

    vectors: torch.Tensor  # (n, d) float32; (n, 0) when scoring is "full"
    bias: torch.Tensor | None  # (n,) or None
    raw_ids: list[str]
    texts: list[dict]  # one dict of TEXT_FIELDS per item
    scoring: str = "dot"  # "dot" | "cosine" | "full" (the queries are the scores themselves)
    n_trained: int = 0
    model: str = ""
    checkpoint: str = ""  # sha256 of the checkpoint the vectors came from
    _faiss: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.position = {raw: i for i, raw in enumerate(self.raw_ids)}

    @property
    def n_items(self) -> int:
        return len(self.raw_ids)

    def to(self, device: torch.device) -> ItemIndex:
        """The vectors (and bias) moved to ``device``, where the queries are scored; in place."""
        self.vectors = self.vectors.to(device)
        self.bias = None if self.bias is None else self.bias.to(device)
        return self

    # ------------------------------------------------------------------ scoring
    def scores(self, queries: torch.Tensor, lo: int = 0, hi: int | None = None) -> torch.Tensor:
        """Scores of items lo..hi-1 (rows). Input: (B, d), or (B, n) scores with "full". Output:
        (B, hi - lo)."""
        if self.scoring == "full":
            return queries[:, lo:hi]
        rows = self.vectors[lo:hi]
        out = queries @ rows.T
        return out if self.bias is None else out + self.bias[lo:hi]

    def top_k(
        self,
        queries: torch.Tensor,
        k: int,
        allowed: torch.Tensor | None = None,
        offset_rows: list[list[int]] | None = None,
        offset: float = 0.0,
        excluded_rows: list[list[int]] | None = None,
        chunk: int = CHUNK,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact top-k per query over the allowed rows, filters applied before the cut.

        Input: queries (B, d); ``allowed`` (n,) bool shared by every query (None = all); each query's
        ``offset_rows`` (the history as the model reads it) lose ``offset`` (the model's repeat offset);
        its ``excluded_rows`` are left out. Output: scores (B, k) and rows (B, k), best first; where fewer
        than k rows are allowed, the list ends in -inf scores with rows -1.
        """
        queries = queries.to(self.vectors.device)
        allowed = None if allowed is None else allowed.to(self.vectors.device)
        if allowed is not None and int(allowed.sum()) * 8 < self.n_items:  # a small candidate set
            return self._top_k_among(allowed.nonzero()[:, 0], queries, k, offset_rows, offset, excluded_rows)
        b = queries.shape[0]
        best_s = torch.full((b, 0), float("-inf"), device=queries.device)
        best_i = torch.zeros((b, 0), dtype=torch.long, device=queries.device)
        for lo in range(0, self.n_items, chunk):
            hi = min(lo + chunk, self.n_items)
            s = self.scores(queries, lo, hi)  # (B, hi - lo)
            if allowed is not None:
                s = s.masked_fill(~allowed[lo:hi], float("-inf"))
            if offset_rows is not None and offset:
                _history_in_chunk(s, offset_rows, lo, hi, offset)
            if excluded_rows is not None:
                _history_in_chunk(s, excluded_rows, lo, hi, float("-inf"))
            top = s.topk(min(k, hi - lo), dim=1)
            merged = torch.cat([best_s, top.values], 1)  # (B, <= 2k)
            best_s, order = merged.topk(min(k, merged.shape[1]), 1)
            best_i = torch.cat([best_i, top.indices + lo], 1).gather(1, order)
        short = k - best_s.shape[1]  # a catalog smaller than k
        best_s = torch.cat([best_s, best_s.new_full((b, short), float("-inf"))], 1)
        best_i = torch.cat([best_i, best_i.new_full((b, short), -1)], 1)
        return best_s, best_i.masked_fill(torch.isinf(best_s), -1)

    def _top_k_among(self, among, queries, k, offset_rows, offset, excluded_rows):
        """``top_k`` over the rows ``among`` (R,) only: R item vectors scored instead of the catalog."""
        if len(among) == 0:  # a filter no item passes: k empty places
            b = queries.shape[0]
            return queries.new_full((b, k), float("-inf")), torch.full((b, k), -1, device=queries.device)
        sub = ItemIndex(
            self.vectors[among],
            None if self.bias is None else self.bias[among],
            [""] * len(among),
            [],
            self.scoring,
        )
        if self.scoring == "full":
            queries = queries[:, among]  # (B, R): the scores of the candidates
        where = {int(r): n for n, r in enumerate(among.tolist())}
        local = [[where[r] for r in rows if r in where] for rows in offset_rows] if offset_rows else None
        gone = [[where[r] for r in rows if r in where] for rows in excluded_rows] if excluded_rows else None
        scores, rows = sub.top_k(queries, k, None, local, offset, gone)
        return scores, torch.where(rows >= 0, among[rows.clamp(min=0)], rows)

    # ------------------------------------------------------------------ text and ids
    def rows_of(self, raw_ids: list[str]) -> tuple[list[int], list[str]]:
        """Rows of the known raw ids, and the raw ids that are not in the catalog."""
        rows = [self.position[r] for r in raw_ids if r in self.position]
        return rows, [r for r in raw_ids if r not in self.position]

    def where(self, conditions: dict[str, object]) -> torch.Tensor:
        """Rows whose text fields match (n,) bool. ``{"brand": "3M"}`` equals (case-insensitive; on
        categories: equals any one category of the item's comma-separated path); ``{"title": {"contains":
        "pen"}}`` contains (case-insensitive)."""
        keep = torch.ones(self.n_items, dtype=torch.bool)
        for name, condition in conditions.items():
            if name not in TEXT_FIELDS:
                raise ConfigError(f"where: unknown item field {name!r}; fields: {', '.join(TEXT_FIELDS)}")
            contains, value = _condition(name, condition)
            for row, text in enumerate(self.texts):
                if keep[row]:
                    keep[row] = _matches(name, str(text.get(name, "")), value, contains)
        return keep

    def item(self, row: int) -> dict:
        return {"id": self.raw_ids[row], **{k: self.texts[row].get(k, "") for k in TEXT_FIELDS}}

    def search(self, query: str, limit: int = 20) -> list[int]:
        """Rows whose title holds every word of ``query``, best first (case-insensitive; a query word matches
        the title words it begins, so "star wa" finds "Star Wars"). Ranked by whole-word matches, then
        shorter titles, then catalog order."""
        words = WORD.findall(query.lower())
        if not words:
            return []
        hits = (
            (-sum(w in title for w in words), len(title), row)
            for row, title in enumerate(self._title_words)
            if all(any(t.startswith(w) for t in title) for w in words)
        )
        return [row for *_, row in heapq.nsmallest(limit, hits)]

    def values(self, name: str, limit: int = 50) -> list[tuple[str, int]]:
        """The most common values of a text field with their item counts (categories: each category of
        the comma-separated paths), most common first; empty values are left out."""
        if name not in TEXT_FIELDS:
            raise ConfigError(f"unknown item field {name!r}; fields: {', '.join(TEXT_FIELDS)}")
        counts: Counter = Counter()
        for text in self.texts:
            value = str(text.get(name, ""))
            parts = {p.strip() for p in value.split(",")} if name == "categories" else {value.strip()}
            counts.update(p for p in parts if p)
        return sorted(counts.items(), key=lambda vc: (-vc[1], vc[0].lower()))[:limit]

    @cached_property
    def _title_words(self) -> list[tuple[str, ...]]:
        return [tuple(WORD.findall(str(t.get("title", "")).lower())) for t in self.texts]

    # ------------------------------------------------------------------ disk
    def save(self, folder: str | Path) -> Path:
        """Write a new generation, then switch the manifest to it (atomic; see the module docstring)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        old = _read_manifest(folder)
        generation = (old or {}).get("generation", 0) + 1
        tensors = {"vectors": self.vectors.float().cpu().contiguous()}
        if self.bias is not None:
            tensors["bias"] = self.bias.float().cpu().contiguous()
        vectors, items = f"vectors-{generation}.safetensors", f"items-{generation}.jsonl"
        save_file(tensors, folder / vectors)
        with open(folder / items, "w", encoding="utf-8") as f:
            for raw, text in zip(self.raw_ids, self.texts, strict=True):
                f.write(json.dumps({"raw_id": raw, **{k: text.get(k, "") for k in TEXT_FIELDS}}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        manifest = {
            "generation": generation,
            "model": self.model,
            "scoring": self.scoring,
            "n_items": self.n_items,
            "n_trained": self.n_trained,
            "dim": int(self.vectors.shape[1]),
            "checkpoint": self.checkpoint,
            "files": {"vectors": vectors, "items": items},
        }
        tmp = folder / ".manifest.json.tmp"
        tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        tmp.replace(folder / "manifest.json")
        for stale in folder.iterdir():  # earlier generations (and anything a killed write left)
            if stale.name.startswith(("vectors-", "items-")) and stale.name not in (vectors, items):
                stale.unlink()
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> ItemIndex:
        from safetensors.torch import load_file

        folder = Path(folder)
        manifest = _read_manifest(folder)
        if manifest is None:
            raise ConfigError(
                f"{folder} holds no item index (no manifest.json); build it with `laserrec index`"
            )
        tensors = load_file(folder / manifest["files"]["vectors"])
        raw_ids, texts = [], []
        with open(folder / manifest["files"]["items"], encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                raw_ids.append(row.pop("raw_id"))
                texts.append(row)
        return cls(
            tensors["vectors"],
            tensors.get("bias"),
            raw_ids,
            texts,
            manifest["scoring"],
            manifest["n_trained"],
            manifest["model"],
            manifest.get("checkpoint", ""),
        )


def _read_manifest(folder: Path) -> dict | None:
    path = folder / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def qualifying(
    n_items: int, allowed: torch.Tensor | None, excluded_rows: list[list[int]] | None, queries: int
) -> list[int]:
    """How many items each of ``queries`` queries may get: the ``allowed`` rows (n,) bool (None = all
    ``n_items``) less that query's ``excluded_rows`` among them (None = none excluded)."""
    total = n_items if allowed is None else int(allowed.sum())
    if excluded_rows is None:
        return [total] * queries
    out = []
    for rows in excluded_rows:
        unique = sorted(set(rows))
        out.append(total - (len(unique) if allowed is None else int(allowed[unique].sum())))
    return out


def _history_in_chunk(scores: torch.Tensor, history: list[list[int]], lo: int, hi: int, value: float) -> None:
    """In place: the rows each user already has, within lo..hi-1, less ``value`` (or set to -inf)."""
    for b, rows in enumerate(history):
        inside = sorted({r - lo for r in rows if lo <= r < hi})
        if not inside:
            continue
        if value == float("-inf"):
            scores[b, inside] = value
        else:
            scores[b, inside] -= value


def _condition(name: str, condition: object) -> tuple[bool, str]:
    if isinstance(condition, dict):
        if set(condition) != {"contains"}:
            raise ConfigError(f"where.{name}: expected a value or {{'contains': text}}, got {condition!r}")
        return True, str(condition["contains"]).strip().lower()
    return False, str(condition).strip().lower()


def _matches(name: str, text: str, value: str, contains: bool) -> bool:
    text = text.strip().lower()
    if contains:
        return value in text
    if name == "categories":
        return value in {part.strip() for part in text.split(",")}
    return text == value
