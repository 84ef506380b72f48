"""The prepared dataset: remapped ids (0 = padding), time-ordered sequences, item text.

On disk (written by ``laserrec prepare``, read by every model)::

    DIR/meta.json       counts, source, format, statistics, raw ids (index i = internal id i + 1)
    DIR/sequences.npz   offsets (n_users + 1,) and items (n_interactions,), int64, CSR layout
    DIR/items.jsonl     one line per item id 1..n_items: {"id", "title", "brand", "categories", "description"}
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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
        flat = np.concatenate(self.sequences) if self.sequences else np.zeros(0, dtype=np.int64)
        return np.bincount(flat, minlength=self.n_items + 1)

    # ----------------------------------------------------------------- disk
    def save(self, out_dir: str | Path) -> Path:
        """Write atomically: everything goes to a sibling temp folder, renamed into place at the end."""
        out = Path(out_dir)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; a dataset folder is an ordinary folder
        try:
            lengths = np.array([len(s) for s in self.sequences], dtype=np.int64)
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            empty = np.zeros(0, np.int64)
            flat = np.concatenate(self.sequences).astype(np.int64) if self.sequences else empty
            np.savez(tmp / "sequences.npz", offsets=offsets, items=flat)
            with open(tmp / "items.jsonl", "w", encoding="utf-8") as f:
                for i, t in enumerate(self.items[1:], start=1):
                    f.write(json.dumps({"id": i, "raw_id": self.item_ids[i - 1], **t.to_dict()}) + "\n")
            meta = {
                **self.meta,
                "format_version": FORMAT_VERSION,
                "name": self.name,
                "n_users": self.n_users,
                "n_items": self.n_items,
                "n_interactions": self.n_interactions,
                "statistics": self.statistics(),
                "user_ids": self.user_ids,
                "item_ids": self.item_ids,
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
            if out.exists():
                if not (out / "meta.json").exists():
                    raise DataError(f"{out} exists and is not a prepared dataset; refusing to overwrite it")
                shutil.rmtree(out)
            os.replace(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out

    @classmethod
    def load(cls, data_dir: str | Path) -> PreparedData:
        d = Path(data_dir)
        for name in ("meta.json", "sequences.npz", "items.jsonl"):
            if not (d / name).is_file():
                raise DataError(f"{d}: missing {name} — is this a folder written by `laserrec prepare`?")
        meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        arrays = np.load(d / "sequences.npz")
        offsets, flat = arrays["offsets"], arrays["items"]
        sequences = [flat[offsets[u] : offsets[u + 1]] for u in range(len(offsets) - 1)]
        items = [ItemText()]
        with open(d / "items.jsonl", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                items.append(ItemText(**{k: row.get(k, "") for k in TEXT_FIELDS}))
        return cls(
            sequences=sequences,
            items=items,
            user_ids=meta.pop("user_ids"),
            item_ids=meta.pop("item_ids"),
            name=meta.get("name", d.name),
            meta=meta,
        )


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
