"""RecBole's sequential benchmark files, as UniSRec, LLMRank and RecBole's benchmark sets ship them:
``X.train.inter``, ``X.valid.inter``, ``X.test.inter`` (tab-separated, RecBole header) with the columns
``user_id:token``, ``item_id_list:token_seq`` (the history, space-separated, oldest first) and
``item_id:token`` (the next item), and the item text in ``X.item`` (RecBole atomic, as ``recbole.py``
reads it) or ``X.text`` (one ``item_id<TAB>text`` line per item, text = the title; a RecBole header line
is allowed).

Only the test file is required: a user's full sequence is their test history + test target. The train
and valid files, when present, must agree with it — every row's history + target is a prefix of the
user's sequence — so a split that was not cut from one sequence is refused by file and line. (LLMRank's
Games ships only valid and test.) Positions are the timestamps.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from laserrec.data.dataset import ItemText
from laserrec.data.formats.recbole import _read_items, _rows
from laserrec.data.io import at, ident, open_text
from laserrec.data.raw import RawData, add_text, item_text
from laserrec.errors import DataError

COLUMNS = [("user_id",), ("item_id_list",), ("item_id",)]
SPLITS = ("train", "valid")  # read after test, each checked against it


def stem(test_file: Path) -> str:
    return test_file.name.removesuffix(".test.inter")


def companions(name: str) -> list[str]:
    base = name.removesuffix(".test.inter")
    return [f"{base}.item", f"{base}.text"]


def parse(test_file: Path, item_file: Path | None) -> RawData:
    warnings: Counter = Counter()
    texts = _read_text(item_file, warnings) if item_file is not None else {}
    rows = _sequences(test_file)
    for user, (seq, n) in rows.items():
        missing = next((item for item in seq if item not in texts), None) if texts else None
        if missing is not None:
            where = f"{at(test_file, n)}: item {missing!r} (user {user!r})"
            raise DataError(f"{where} has no entry in {item_file}")
    sequences = {user: seq for user, (seq, _) in rows.items()}
    for split in SPLITS:
        path = test_file.with_name(f"{stem(test_file)}.{split}.inter")
        if path.is_file():
            _check_prefixes(path, sequences, test_file)
    events = {user: [(float(pos), item) for pos, item in enumerate(seq)] for user, seq in sequences.items()}
    return RawData(events, texts, warnings)


def _sequences(path: Path) -> dict[str, tuple[list[str], int]]:
    """Per user: history + target of their one row, and the row's line number."""
    out: dict[str, tuple[list[str], int]] = {}
    for n, row in _rows(path, COLUMNS):
        user = ident(row["user_id"], "user_id", path, n)
        if user in out:
            raise DataError(f"{at(path, n)}: user {user!r} has a second row (first at line {out[user][1]})")
        out[user] = (_history(row, path, n) + [ident(row["item_id"], "item_id", path, n)], n)
    return out


def _history(row: dict, path: Path, n: int) -> list[str]:
    return [ident(tok, "item_id_list entry", path, n) for tok in row["item_id_list"].split()]


def _check_prefixes(path: Path, sequences: dict[str, list[str]], test_file: Path) -> None:
    """Every row of ``path`` (several per user, in a train file) is a prefix of the user's test sequence."""
    for n, row in _rows(path, COLUMNS):
        user = ident(row["user_id"], "user_id", path, n)
        seq = _history(row, path, n) + [ident(row["item_id"], "item_id", path, n)]
        full = sequences.get(user)
        if full is None:
            raise DataError(f"{at(path, n)}: user {user!r} has no row in {test_file.name}")
        if len(seq) >= len(full) or full[: len(seq)] != seq:
            raise DataError(
                f"{at(path, n)}: user {user!r}'s history + target is not a prefix of their sequence in "
                f"{test_file.name} (test history + target); the files are not one leave-one-out split"
            )


def _read_text(path: Path, warnings: Counter) -> dict[str, ItemText]:
    if path.name.endswith(".item"):
        return _read_items(path, warnings)
    texts: dict[str, ItemText] = {}
    with open_text(path) as f:
        for n, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip() or (n == 1 and ":token" in line):
                continue
            item, tab, text = line.partition("\t")
            if not tab:
                raise DataError(f"{at(path, n)}: expected item_id<TAB>text")
            add_text(texts, ident(item, "item_id", path, n), item_text(text, warnings=warnings), warnings)
    if not texts:
        raise DataError(f"{path}: no item lines")
    return texts
