"""``laserrec prepare``: raw files -> a prepared-dataset folder (see ``laserrec.data.dataset``).

Everything is read and checked before anything is written, and ``PreparedData.save`` writes to a
temporary sibling folder renamed into place, so bad input never leaves a half-written folder.
The same input and options give byte-identical files.

``prepare`` never deletes a file it did not write: the output folder must be new, empty, or a prepared
dataset (replaced only with ``overwrite``, and then only its three files), and never the source folder
or a folder inside it.
"""

from __future__ import annotations

import json
from pathlib import Path

from laserrec.data.dataset import PreparedData, check_output_folder
from laserrec.data.readers import read_dataset
from laserrec.errors import DataError


def prepare_dataset(
    source: str | Path,
    out: str | Path,
    fmt: str | None = None,
    min_core: int = 0,
    dedup: bool = False,
    name: str | None = None,
    min_length: int = 1,
    overwrite: bool = False,
    hide_items: float = 0.0,
    seed: int = 0,
    train_users: float = 1.0,
) -> PreparedData:
    """Detect the format of ``source`` (unless ``fmt`` is given), read it, and save it to ``out``.

    ``min_core``: iterative k-core on users and items (0 = off). ``dedup``: keep only the earliest
    interaction of each (user, item) pair. ``min_length``: drop users with fewer interactions.
    ``overwrite``: replace the prepared dataset already in ``out`` (its three files only).
    ``hide_items``: leave out this share of the items with their interactions, drawn with ``seed``
    (their text stays in ``meta.json``; see ``data/hide.py``). ``train_users``: keep this share of the users,
    drawn with ``seed``, every item kept under its id (``data/fraction.py``).
    Returns the dataset; its ``meta["warnings"]`` holds counts the caller should show (``summary``).
    """
    check_not_in_source(Path(source), Path(out))
    check_output_folder(Path(out), overwrite)  # before reading: a refusal should not wait for the data
    data = read_dataset(Path(source), fmt, name=name, min_core=min_core, dedup=dedup, min_length=min_length)
    if hide_items:
        from laserrec.data.hide import hide_items as hide

        data = hide(data, hide_items, seed)[0]
    if train_users != 1.0:
        from laserrec.data.fraction import keep_users

        data = keep_users(data, train_users, seed)
    data.save(out, overwrite=overwrite)
    return data


def check_not_in_source(source: Path, out: Path) -> None:
    """The output folder is neither the raw data's folder nor inside a source folder."""
    folder = (source if source.is_dir() else source.parent).resolve()
    target = out.resolve()
    if target == source.resolve() or target == folder or (source.is_dir() and folder in target.parents):
        raise DataError(
            f"--out {out} is {'inside ' if target != folder else ''}the source folder {folder}; write the "
            "prepared dataset to a folder of its own (e.g. a sibling 'prepared')"
        )


def summary(data: PreparedData) -> str:
    """A few human-readable lines: statistics, filtering and warning counts."""
    stats = data.statistics()
    lines = [
        f"{data.name} ({data.meta.get('format', '?')}): {stats['users']} users, {stats['items']} items, "
        f"{stats['interactions']} interactions, avg length {stats['avg_length']} "
        f"(min {stats['min_length']}, median {stats['median_length']}, max {stats['max_length']})",
        f"item text filled: {json.dumps(stats['items_with_text'])}",
    ]
    if data.meta.get("filtering"):
        lines.append(f"filtering: {json.dumps(data.meta['filtering'])}")
    hidden = data.meta.get("hidden_items")
    if hidden:
        lines.append(
            f"hidden: {hidden['count']} items ({hidden['share']:g} of the catalog, seed {hidden['seed']}) "
            f"with their interactions; {hidden['users_dropped']} users left with none"
        )
    users = data.meta.get("train_users")
    if users:
        lines.append(
            f"kept {users['count']} users ({users['share']:g} of them, seed {users['seed']}); every item kept"
        )
    warnings = data.meta.get("warnings") or {}
    lines.append(f"warnings: {json.dumps(warnings)}" if warnings else "warnings: none")
    return "\n".join(lines)
