"""The prepared dataset: remapped ids (0 = padding), time-ordered sequences, item text.

On disk (written by ``laserrec prepare``, read by every model)::

    DIR/meta.json       counts, source, format, statistics, raw ids (index i = internal id i + 1)
    DIR/sequences.npz   offsets (n_users + 1,) and items (n_interactions,), int64, CSR layout
    DIR/items.jsonl     one line per item id 1..n_items: {"id", "title", "brand", "categories", "description"}

meta.json's ``content_hash`` (see ``PreparedData.content_hash``) is checked at every load.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from laserrec.data.io import iter_json_lines
from laserrec.errors import DataError

TEXT_FIELDS = ("title", "brand", "categories", "description")
FORMAT_VERSION = 1


@dataclass
class ItemText:
    title: str = ""
    brand: str = ""
    categories: str = ""
    description: str = ""

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in TEXT_FIELDS}


@dataclass
class PreparedData:
    """Sequences of internal item ids (1..n_items) per user, in time order, plus item text.

    ``items[0]`` is the padding item (empty text); ``items[i]`` belongs to internal id ``i``.
    """

    sequences: list[np.ndarray]
    items: list[ItemText]
    user_ids: list[str]
    item_ids: list[str]  # raw id of internal item i + 1
    name: str = "dataset"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.items) != len(self.item_ids) + 1:
            raise DataError(f"{len(self.items) - 1} item texts for {len(self.item_ids)} item ids")
        if len(self.sequences) != len(self.user_ids):
            raise DataError(f"{len(self.sequences)} sequences for {len(self.user_ids)} user ids")
        _, flat = self._arrays()
        if len(flat) and (flat.min() < 1 or flat.max() > self.n_items):  # one pass; then find who
            for user, seq in zip(self.user_ids, self.sequences, strict=True):
                if len(seq) and (seq.min() < 1 or seq.max() > self.n_items):
                    raise DataError(f"user {user!r}: item id outside 1..{self.n_items}")

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_interactions(self) -> int:
        return int(sum(len(s) for s in self.sequences))

    def statistics(self) -> dict:
        lengths = np.array([len(s) for s in self.sequences]) if self.sequences else np.zeros(1)
        counts = self.item_counts()
        filled = {k: sum(bool(getattr(t, k)) for t in self.items[1:]) for k in TEXT_FIELDS}
        return {
            "users": self.n_users,
            "items": self.n_items,
            "interactions": self.n_interactions,
            "avg_length": round(float(lengths.mean()), 3),
            "min_length": int(lengths.min()),
            "median_length": float(np.median(lengths)),
            "max_length": int(lengths.max()),
            "density": round(self.n_interactions / max(1, self.n_users * self.n_items), 6),
            "items_never_seen": int((counts[1:] == 0).sum()),
            "items_with_text": {k: f"{v}/{self.n_items}" for k, v in filled.items()},
        }

    def item_counts(self) -> np.ndarray:
        """Interactions per internal item id. Output shape: (n_items + 1,), index 0 = padding (0)."""
        return interaction_counts(self.sequences, self.n_items)

    def content_hash(self) -> str:
        """sha256 of what a model reads: the sequences, the item lines of items.jsonl and the user ids.

        ``prepare`` stores it in meta.json, ``load`` checks it, and a run records the one it trained on.
        It does not depend on the dataset's name, its source path or the statistics in meta.json.
        """
        return self._hash(self._arrays(), list(self._item_lines()))

    def _hash(self, arrays: tuple[np.ndarray, np.ndarray], item_lines: list[str]) -> str:
        digest = hashlib.sha256(b"laserrec dataset 1\n")
        offsets, flat = arrays
        digest.update(offsets.astype("<i8").tobytes())
        digest.update(flat.astype("<i8").tobytes())
        for line in item_lines:
            digest.update(line.encode("utf-8"))
        digest.update(json.dumps(self.user_ids).encode("utf-8"))
        return digest.hexdigest()

    def known_hash(self) -> str:
        """``content_hash``, as checked at load (no second pass), or computed for data built in memory."""
        return self.meta.get("content_hash") or self.content_hash()

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """CSR layout of the sequences: offsets (n_users + 1,) and items (n_interactions,), int64."""
        lengths = np.array([len(s) for s in self.sequences], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        empty = np.zeros(0, np.int64)
        return offsets, np.concatenate(self.sequences).astype(np.int64) if self.sequences else empty

    def _item_lines(self) -> Iterator[str]:
        for i, t in enumerate(self.items[1:], start=1):
            yield json.dumps({"id": i, "raw_id": self.item_ids[i - 1], **t.to_dict()}) + "\n"

    # ----------------------------------------------------------------- disk
    def save(self, out_dir: str | Path, overwrite: bool = False) -> Path:
        """Write the three files of a prepared dataset to ``out_dir``; nothing else there is touched.

        ``out_dir`` must be new, empty, or (with ``overwrite``) a prepared dataset, of which only these
        three files are replaced. They are written in full to a sibling temp folder first, so the old
        dataset stays whole until the new one is complete; meta.json, holding the content hash, is
        replaced last (a kill between two renames leaves files ``load`` refuses by their hash).
        """
        out = Path(out_dir)
        check_output_folder(out, overwrite)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; a dataset folder is an ordinary folder
        try:
            arrays, lines = self._arrays(), list(self._item_lines())  # each made once
            np.savez(tmp / "sequences.npz", offsets=arrays[0], items=arrays[1])
            with open(tmp / "items.jsonl", "w", encoding="utf-8") as f:
                f.writelines(lines)
            meta = {
                **self.meta,
                "format_version": FORMAT_VERSION,
                "name": self.name,
                "content_hash": self._hash(arrays, lines),
                "n_users": self.n_users,
                "n_items": self.n_items,
                "n_interactions": self.n_interactions,
                "statistics": self.statistics(),
                "user_ids": self.user_ids,
                "item_ids": self.item_ids,
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
            if out.exists():
                for name in DATASET_FILES:  # meta.json last
                    os.replace(tmp / name, out / name)
            else:
                os.replace(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return out

    @classmethod
    def load(cls, data_dir: str | Path) -> PreparedData:
        """Read a prepared dataset; a damaged or edited one is a ``DataError`` naming the file."""
        d = Path(data_dir)
        for name in sorted(DATASET_FILES, key=lambda n: n != "meta.json"):
            if not (d / name).is_file():
                raise DataError(f"{d}: missing {name} — is this a folder written by `laserrec prepare`?")
        meta = _read_meta(d / "meta.json")
        offsets, flat = _read_arrays(d / "sequences.npz")
        items = [ItemText(), *_read_items(d / "items.jsonl")]
        for name, found, listed in (
            ("items.jsonl", len(items) - 1, len(meta["item_ids"])),
            ("sequences.npz", len(offsets) - 1, len(meta["user_ids"])),
        ):
            if found != listed:
                what = "items" if name == "items.jsonl" else "users"
                raise DataError(f"{d / name}: {found} {what}, meta.json lists {listed}: {DAMAGED}")
        try:
            data = cls(
                sequences=[flat[offsets[u] : offsets[u + 1]] for u in range(len(offsets) - 1)],
                items=items,
                user_ids=meta.pop("user_ids"),
                item_ids=meta.pop("item_ids"),
                name=meta.get("name", d.name),
                meta=meta,
            )
        except DataError as e:
            raise DataError(f"{d}: {e}: {DAMAGED}") from None
        recorded, found = meta.get("content_hash"), data.content_hash()
        if recorded is not None and found != recorded:
            raise DataError(
                f"{d}: its files do not match the content hash in meta.json (files {found[:16]}, meta.json "
                f"{str(recorded)[:16]}): {DAMAGED}"
            )
        data.meta["content_hash"] = found
        return data


DATASET_FILES = ("sequences.npz", "items.jsonl", "meta.json")
DAMAGED = (
    "the files do not agree (edited, or an interrupted `laserrec prepare --overwrite`?); prepare it again"
)


def is_prepared_dataset(folder: Path) -> bool:
    """Whether ``folder`` holds a dataset written by ``laserrec prepare`` (its meta.json says so)."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and "format_version" in meta and "item_ids" in meta


def check_output_folder(out: Path, overwrite: bool) -> None:
    """``out`` may be new, empty, or a prepared dataset to replace with ``overwrite``; else an error."""
    if not out.exists():
        return
    if not out.is_dir():
        raise DataError(f"{out} is a file, not a folder; choose another output folder")
    if not any(out.iterdir()):
        return
    if not is_prepared_dataset(out):
        raise DataError(
            f"{out} is not empty and holds no prepared dataset; refusing to overwrite it (choose a new or "
            "empty folder)"
        )
    if not overwrite:
        raise DataError(
            f"{out} already holds a prepared dataset; pass --overwrite to replace it (only its "
            f"{', '.join(DATASET_FILES)} are replaced, anything else in the folder stays)"
        )


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON (damaged or truncated?): {e}; prepare it again") from None
    if not isinstance(meta, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    missing = [k for k in ("user_ids", "item_ids") if k not in meta]
    if missing:
        raise DataError(f"{path}: no {' or '.join(missing)} — not a meta.json written by `laserrec prepare`")
    return meta


def _read_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path) as arrays:
            offsets, flat = arrays["offsets"], arrays["items"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: cannot be read (damaged or truncated?): {e}; prepare it again") from None
    if offsets.ndim != 1 or len(offsets) < 1 or offsets[-1] != len(flat) or (np.diff(offsets) < 0).any():
        raise DataError(f"{path}: offsets do not describe the items array (damaged?); prepare it again")
    return offsets, flat


def _read_items(path: Path) -> list[ItemText]:
    try:
        rows = [row for _, row in iter_json_lines(path)]
    except DataError as e:
        raise DataError(f"{e} (damaged or truncated?); prepare it again") from None
    return [ItemText(**{k: str(row.get(k) or "") for k in TEXT_FIELDS}) for row in rows]


@dataclass
class EvalSet:
    """Users evaluated on one split. ``histories[k]`` precedes ``targets[k]`` for user ``users[k]``."""

    users: np.ndarray
    histories: list[np.ndarray]
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.users)

    def sample(self, n: int, seed: int) -> EvalSet:
        """A fixed random subset of ``n`` users (all of them when n is 0 or too large), in user order."""
        if not n or n >= len(self):
            return self
        keep = np.sort(np.random.default_rng(seed).choice(len(self), n, replace=False))
        return EvalSet(self.users[keep], [self.histories[k] for k in keep], self.targets[keep])


@dataclass
class Split:
    """Leave-one-out by time: test = last item, valid = second to last, train = the rest."""

    train: list[np.ndarray]  # per user (all users, may be short or empty)
    valid: EvalSet
    test: EvalSet
    n_items: int
    skipped_users: int  # users with fewer than 3 interactions: not evaluated

    def eval_set(self, name: str) -> EvalSet:
        if name not in ("valid", "test"):
            raise ValueError(f"unknown split {name!r}; expected 'valid' or 'test'")
        return self.valid if name == "valid" else self.test


def interaction_counts(sequences: list[np.ndarray], n_items: int) -> np.ndarray:
    """Interactions per item id in ``sequences`` (e.g. a split's training part). Output: (n_items + 1,),
    index 0 (padding) 0."""
    flat = np.concatenate(sequences) if sequences else np.zeros(0, dtype=np.int64)
    counts = np.bincount(flat, minlength=n_items + 1)
    counts[0] = 0
    return counts


def leave_one_out(data: PreparedData) -> Split:
    """Split every user's sequence; users with < 3 items are trained on but not evaluated."""
    train, skipped = [], 0
    v_users, v_hist, v_tgt, t_users, t_hist, t_tgt = [], [], [], [], [], []
    for u, seq in enumerate(data.sequences):
        if len(seq) < 3:
            skipped += 1
            train.append(seq)
            continue
        train.append(seq[:-2])
        v_users.append(u)
        v_hist.append(seq[:-2])
        v_tgt.append(seq[-2])
        t_users.append(u)
        t_hist.append(seq[:-1])
        t_tgt.append(seq[-1])
    as_set = lambda us, hs, ts: EvalSet(np.array(us, dtype=np.int64), hs, np.array(ts, dtype=np.int64))  # noqa: E731
    return Split(train, as_set(v_users, v_hist, v_tgt), as_set(t_users, t_hist, t_tgt), data.n_items, skipped)
