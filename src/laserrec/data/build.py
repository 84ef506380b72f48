"""Raw events -> ``PreparedData``: stable time order, optional dedup / k-core, id remapping.

The steps, in order (each count lands in ``meta["warnings"]`` or ``meta["filtering"]``):

1. exact duplicate rows (same user, item and timestamp) are dropped — warning ``duplicate_rows``;
2. each user's events are sorted by timestamp with a *stable* sort, so ties keep file order —
   warning ``timestamp_ties`` (events sharing a timestamp with an earlier event of the same user);
3. ``dedup``: only the earliest event of each (user, item) pair is kept — ``filtering.dedup_removed``;
   otherwise repeats are kept and counted — warning ``repeated_user_item``;
4. ``min_core`` > 0: iterative k-core (users and items with fewer than k events removed until none
   is) — ``filtering.kcore_removed_{users,items,interactions}``;
5. users with fewer than ``min_length`` events are dropped — warning ``short_users_dropped``;
6. ids: users numbered in order of first appearance in the file, items 1..N in order of first
   appearance when walking the users' time-ordered sequences (0 = padding). Items with text but no
   interaction are dropped — warning ``items_without_interactions``. Items kept whose title is empty
   are counted — warning ``items_without_title`` (the LLM models then name them by what they have).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from laserrec.data.dataset import ItemText, PreparedData
from laserrec.data.raw import RawData
from laserrec.errors import ConfigError, DataError

Sequences = dict[str, list[str]]


def build_prepared(
    raw: RawData, name: str, *, min_core: int = 0, dedup: bool = False, min_length: int = 1
) -> PreparedData:
    """Apply the steps above to ``raw`` and return the remapped dataset."""
    if min_core < 0:
        raise ConfigError(f"min_core must be >= 0, got {min_core}")
    if min_length < 1:
        raise ConfigError(f"min_length must be >= 1, got {min_length}")
    warnings, filtering = Counter(raw.warnings), {}
    seqs = {user: _time_ordered(events, warnings) for user, events in raw.events.items()}
    used = {item for seq in seqs.values() for item in seq}
    warnings["items_without_interactions"] += sum(item not in used for item in raw.texts)
    warnings["items_without_text"] += sum(item not in raw.texts for item in used) if raw.texts else len(used)
    if dedup:
        seqs, filtering["dedup_removed"] = _dedup(seqs)
    else:
        warnings["repeated_user_item"] += sum(len(s) - len(set(s)) for s in seqs.values())
    if min_core:
        seqs, removed = _k_core(seqs, min_core)
        filtering.update(removed)
    kept = {user: seq for user, seq in seqs.items() if len(seq) >= min_length}
    warnings["short_users_dropped"] += len(seqs) - len(kept)
    kept_items = {item for seq in kept.values() for item in seq}
    warnings["items_without_title"] += sum(not raw.texts.get(item, ItemText()).title for item in kept_items)
    if not kept:
        raise DataError(f"{name}: no user has {min_length} or more interactions left after filtering")
    meta = {
        "warnings": {k: v for k, v in sorted(warnings.items()) if v},
        "filtering": filtering,
        "options": {"min_core": min_core, "dedup": dedup, "min_length": min_length},
    }
    return _remap(kept, raw.texts, name, meta)


def _time_ordered(events: list[tuple[float, str]], warnings: Counter) -> list[str]:
    """Drop exact duplicate rows, then sort stably by timestamp; returns the items."""
    seen: set[tuple[float, str]] = set()
    unique = []
    for event in events:
        if event in seen:
            warnings["duplicate_rows"] += 1
        else:
            seen.add(event)
            unique.append(event)
    warnings["timestamp_ties"] += len(unique) - len({t for t, _ in unique})
    unique.sort(key=lambda e: e[0])  # list.sort is stable: ties keep file order
    return [item for _, item in unique]


def _dedup(seqs: Sequences) -> tuple[Sequences, int]:
    """Keep the earliest event of each (user, item) pair."""
    out = {user: list(dict.fromkeys(seq)) for user, seq in seqs.items()}
    removed = sum(len(s) for s in seqs.values()) - sum(len(s) for s in out.values())
    return out, removed


def _k_core(seqs: Sequences, k: int) -> tuple[Sequences, dict[str, int]]:
    """Remove users and items with fewer than ``k`` events, repeatedly, until every one left has k."""
    before_users, before_items = len(seqs), len({i for s in seqs.values() for i in s})
    before_events = sum(len(s) for s in seqs.values())
    while True:
        counts = Counter(item for seq in seqs.values() for item in seq)
        pruned = {u: [i for i in seq if counts[i] >= k] for u, seq in seqs.items()}
        pruned = {u: seq for u, seq in pruned.items() if len(seq) >= k}
        if sum(map(len, pruned.values())) == sum(map(len, seqs.values())):
            break
        seqs = pruned
    after_items = len({i for s in pruned.values() for i in s})
    return pruned, {
        "kcore_removed_users": before_users - len(pruned),
        "kcore_removed_items": before_items - after_items,
        "kcore_removed_interactions": before_events - sum(len(s) for s in pruned.values()),
    }


def _remap(seqs: Sequences, texts: dict[str, ItemText], name: str, meta: dict) -> PreparedData:
    index: dict[str, int] = {}
    sequences = []
    for seq in seqs.values():
        ids = [index.setdefault(item, len(index) + 1) for item in seq]
        sequences.append(np.array(ids, dtype=np.int64))
    item_ids = list(index)
    items = [ItemText()] + [texts.get(item, ItemText()) for item in item_ids]
    return PreparedData(sequences, items, list(seqs), item_ids, name=name, meta=meta)
