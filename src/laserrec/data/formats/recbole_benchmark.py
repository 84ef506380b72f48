"""RecBole's sequential benchmark files, as UniSRec, VQ-Rec, LLMRank and RecBole's benchmark sets ship
them: ``X.train.inter``, ``X.valid.inter``, ``X.test.inter`` (tab-separated, RecBole header) with the
columns ``user_id:token``, ``item_id_list:token_seq`` (the history, space-separated, oldest first) and
``item_id:token`` (the next item), and the item text in ``X.item`` (RecBole atomic, as ``recbole.py``
reads it) or ``X.text`` (one ``item_id<TAB>text`` line per item, text = the title; a RecBole header line
is allowed).

UniSRec's preprocessing (and the data sets published with it) keys ``X.text`` by the original item token
(an Amazon ASIN) and writes integer ids into the ``.inter`` files, with the maps beside them:
``X.item2index`` and ``X.user2index``, one ``token<TAB>index`` line each, indices from 0. When a map is
there, the ``.inter`` ids are read through it, so the prepared dataset holds the original item and user
ids (``laserrec recommend`` then takes ASINs).

A user's full sequence is their test history + test target. Histories may be cut to their newest L items
(UniSRec keeps 50); a user whose test history is that long and whose train or valid rows do not fit it is
rebuilt from their rows: the train file has one row per prefix, so each row's history (its last L items)
leads to the next. Only the test file is required; the rows of the others must agree with the user's
sequence (a train row ends before the validation target, the valid row is the sequence less its last
item), so the prepared split gives the files' validation and test targets, and a split that was not cut
from one sequence is refused by file and line. (LLMRank's Games ships only valid and test.) Positions are
the timestamps.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from laserrec.data.dataset import ItemText
from laserrec.data.formats.recbole import _read_items, _rows
from laserrec.data.io import at, ident, open_text
from laserrec.data.raw import RawData, add_text, item_text
from laserrec.errors import DataError

COLUMNS = [("user_id",), ("item_id_list",), ("item_id",)]
SPLITS = ("train", "valid")  # read after test, each checked against it
MAPS = ("item2index", "user2index")
PLACE = {  # where each split's target sits in the user's sequence
    "test": "the last item of their sequence, as their other rows give it",
    "valid": "the item before their test target",
    "train": "an item before their validation target",
}


@dataclass(frozen=True)
class Row:
    """One line of a split file: history + target as raw ids, where it was read."""

    seq: list[str]
    split: str
    path: Path
    line: int


def stem(test_file: Path) -> str:
    return test_file.name.removesuffix(".test.inter")


def companions(name: str) -> list[str]:
    base = name.removesuffix(".test.inter")
    return [f"{base}.item", f"{base}.text"]


def siblings(test_file: Path) -> tuple[list[Path], list[Path]]:
    """The other files read beside the test file, those that exist: (train and valid, the id maps)."""
    splits = [test_file.with_name(f"{stem(test_file)}.{s}.inter") for s in SPLITS]
    maps = [test_file.with_name(f"{stem(test_file)}.{m}") for m in MAPS]
    return [p for p in splits if p.is_file()], [p for p in maps if p.is_file()]


def parse(test_file: Path, item_file: Path | None) -> RawData:
    warnings: Counter = Counter()
    texts = _read_text(item_file, warnings) if item_file is not None else {}
    ids = _Ids(test_file, texts, item_file)
    tests: dict[str, Row] = {}
    for user, row in _read_rows(test_file, "test", ids):
        if user in tests:
            raise DataError(
                f"{at(test_file, row.line)}: user {user!r} has a second row "
                f"(first at line {tests[user].line})"
            )
        tests[user] = row
    others: dict[str, list[Row]] = {user: [] for user in tests}
    for split in SPLITS:
        path = test_file.with_name(f"{stem(test_file)}.{split}.inter")
        for user, row in _read_rows(path, split, ids) if path.is_file() else ():
            if user not in tests:
                raise DataError(f"{at(path, row.line)}: user {user!r} has no row in {test_file.name}")
            others[user].append(row)
    cut = max(len(row.seq) - 1 for row in tests.values())  # the longest history: where histories were cut
    events = {}
    for user, test in tests.items():
        seq = _sequence(user, test, others[user], cut)
        events[user] = [(float(pos), item) for pos, item in enumerate(seq)]
    return RawData(events, texts, warnings)


class _Ids:
    """Raw ids of the ``.inter`` files: through ``X.item2index`` / ``X.user2index`` when they are there,
    each item checked to have text."""

    def __init__(self, test_file: Path, texts: dict[str, ItemText], text_file: Path | None) -> None:
        base = stem(test_file)
        self.item_map = _read_map(test_file.with_name(f"{base}.item2index"))
        self.user_map = _read_map(test_file.with_name(f"{base}.user2index"))
        self.texts, self.text_file, self.base = texts, text_file, base

    def user(self, token: str, path: Path, n: int) -> str:
        return self._mapped(token, self.user_map, "user", path, n)

    def item(self, token: str, user: str, path: Path, n: int) -> str:
        item = self._mapped(token, self.item_map, "item", path, n)
        if self.texts and item not in self.texts:
            shown = repr(token) if item == token else f"{token!r} ({item})"
            where = f"{at(path, n)}: item {shown} (user {user!r})"
            raise DataError(f"{where} has no entry in {self.text_file}{self._hint(item)}")
        return item

    def _mapped(self, token: str, mapping: dict[str, str] | None, what: str, path: Path, n: int) -> str:
        if mapping is None:
            return token
        if token not in mapping:
            raise DataError(f"{at(path, n)}: {what} {token!r} is not in {self.base}.{what}2index")
        return mapping[token]

    def _hint(self, item: str) -> str:
        """UniSRec's layout without its map: integer ids in the .inter files, other keys in the text."""
        if self.item_map is None and item.isdigit() and not any(key.isdigit() for key in self.texts):
            return f" (its keys are not integers; {self.base}.item2index would map the .inter ids to them)"
        return ""


def _read_map(path: Path) -> dict[str, str] | None:
    """``token<TAB>index`` lines (UniSRec's ``.item2index`` / ``.user2index``) as {index: token}; None
    when the file is not there."""
    if not path.is_file():
        return None
    tokens: dict[str, str] = {}
    lines: dict[str, int] = {}
    seen: dict[str, int] = {}
    with open_text(path) as f:
        for n, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip() or (n == 1 and ":token" in line):
                continue
            token, tab, index = line.partition("\t")
            if not tab or not index.strip().isdigit():
                raise DataError(f"{at(path, n)}: expected token<TAB>index (an integer), got {line!r}")
            token, index = ident(token, "token", path, n), str(int(index))
            if index in tokens:
                raise DataError(
                    f"{at(path, n)}: index {index} is already {tokens[index]!r} (line {lines[index]})"
                )
            if token in seen:
                raise DataError(f"{at(path, n)}: {token!r} already has an index (line {seen[token]})")
            tokens[index], lines[index], seen[token] = token, n, n
    if not tokens:
        raise DataError(f"{path}: no token<TAB>index lines")
    return tokens


def _read_rows(path: Path, split: str, ids: _Ids):
    """``(user, Row)`` per data line of a split file, ids mapped and checked."""
    for n, row in _rows(path, COLUMNS):
        user = ids.user(ident(row["user_id"], "user_id", path, n), path, n)
        tokens = [ident(tok, "item_id_list entry", path, n) for tok in row["item_id_list"].split()]
        tokens.append(ident(row["item_id"], "item_id", path, n))
        yield user, Row([ids.item(tok, user, path, n) for tok in tokens], split, path, n)


def _prefix(seq: list[str], full: list[str]) -> bool:
    return len(seq) < len(full) and full[: len(seq)] == seq


def _sequence(user: str, test: Row, others: list[Row], cut: int) -> list[str]:
    """The user's full sequence: the test row, or, when its history was cut, rebuilt from every row."""
    full = test.seq
    bad = next((row for row in others if not _prefix(row.seq, full)), None)
    # a cut user's test history is cut-long, and so is their valid row's or their longest train row's
    was_cut = len(test.seq) - 1 == cut and any(len(row.seq) - 1 == cut for row in others)
    if bad is None:
        placed = [(row, len(row.seq) - 1) for row in others]
    elif not was_cut:
        raise DataError(
            f"{at(bad.path, bad.line)}: user {user!r}'s history + target is not a prefix of their sequence "
            f"in {test.path.name} (test history + target); the files are not one leave-one-out split"
        )
    else:
        full, placed = _rebuild(user, [*others, test], cut)
    _check_positions(user, placed, len(full))
    return full


def _rebuild(user: str, rows: list[Row], cut: int) -> tuple[list[str], list[tuple[Row, int]]]:
    """A sequence whose histories were cut to ``cut`` items, from rows that cover each of its steps: the
    row with the shortest (uncut) history starts it, and the history of each next row is the sequence's
    newest ``cut`` items so far. Output: the sequence and each row with the position of its target."""
    test = rows[-1]
    start = min(rows, key=lambda row: len(row.seq))
    if len(start.seq) - 1 >= cut:
        raise DataError(
            f"{at(test.path, test.line)}: user {user!r}'s history is cut to {cut} items and no train row "
            f"holds the items before it (the {test.path.name.removesuffix('.test.inter')}.train.inter "
            "rows, one per prefix, rebuild it)"
        )
    waiting: dict[tuple[str, ...], list[Row]] = defaultdict(list)
    for row in rows:
        waiting[tuple(row.seq[:-1])].append(row)
    full, placed = list(start.seq[:-1]), []
    while nexts := waiting.get(tuple(full[-cut:])):
        other = next((row for row in nexts if row.seq[-1] != nexts[0].seq[-1]), None)
        if other is not None:
            raise DataError(
                f"{at(other.path, other.line)}: user {user!r}'s row has the history of "
                f"{nexts[0].path.name}, line {nexts[0].line} with another next item: the order of their "
                "sequence cannot be rebuilt"
            )
        row = nexts.pop(0)
        placed.append((row, len(full)))
        full.append(row.seq[-1])
    used = {id(row) for row, _ in placed}
    left = next((row for row in rows if id(row) not in used), None)
    if left is not None:
        raise DataError(
            f"{at(left.path, left.line)}: user {user!r}'s row does not continue their sequence as their "
            f"other rows give it (histories cut to {cut} items); the files are not one leave-one-out split"
        )
    return full, placed


def _check_positions(user: str, placed: list[tuple[Row, int]], n: int) -> None:
    """The given split is kept: test target last, valid target second to last, train targets before."""
    for row, pos in placed:
        kept = {"test": pos == n - 1, "valid": pos == n - 2, "train": pos <= n - 3}[row.split]
        if not kept:
            raise DataError(
                f"{at(row.path, row.line)}: user {user!r}'s {row.split} target is not {PLACE[row.split]}; "
                "the files are not one leave-one-out split"
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
