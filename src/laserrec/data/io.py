"""Small file helpers shared by everything that reads a user's files (the raw-format readers, the
prepared dataset, the histories of ``laserrec recommend``); every failure is a ``DataError`` naming the file.

Paths ending in ``.gz`` are read through gzip. Line numbers are 1-based, as an editor shows them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from laserrec.data.ids import MAX_ID, id_problem
from laserrec.errors import DataError


def at(path: Path, where: int | str | None = None) -> str:
    """Location prefix of an error message: ``file``, ``file, line N`` or ``file, <where>``."""
    if where is None:
        return str(path)
    return f"{path}, line {where}" if isinstance(where, int) else f"{path}, {where}"


@contextmanager
def open_text(path: Path, newline: str | None = None) -> Iterator[IO[str]]:
    """Open a UTF-8 text file (gzip if it ends in .gz; a leading BOM is skipped); read errors become
    ``DataError``."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8-sig", newline=newline) as f:
                yield f
        else:
            with open(path, encoding="utf-8-sig", newline=newline) as f:
                yield f
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(f"{path}: broken gzip file ({e})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None


def load_json(path: Path) -> object:
    """Parse a whole-file JSON document."""
    with open_text(path) as f:
        text = f.read()
    if not text.strip():
        raise DataError(f"{path}: file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{at(path, e.lineno)}, column {e.colno}: malformed JSON ({e.msg})") from None


def json_lines(path: Path) -> Iterator[tuple[int, object]]:
    """Yield ``(line number, value)`` for each non-blank line of a JSON-lines file."""
    seen = False
    with open_text(path) as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{at(path, n)}: malformed JSON ({e.msg}, column {e.colno})") from None
            seen = True
            yield n, value
    if not seen:
        raise DataError(f"{path}: file is empty")


def iter_json_lines(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, object)`` for each non-blank line of a JSON-lines file of objects."""
    for n, row in json_lines(path):
        if not isinstance(row, dict):
            raise DataError(f"{at(path, n)}: expected a JSON object, got {type(row).__name__}")
        yield n, row


def field(row: dict, key: str, path: Path, line: int | str) -> object:
    """``row[key]`` or a ``DataError`` naming the file and line (or key) where it is missing."""
    if key not in row or row[key] is None:
        raise DataError(f"{at(path, line)}: missing field {key!r}")
    return row[key]


def ident(value: object, what: str, path: Path, line: int | str) -> str:
    """A raw user or item id as a string that keeps the rule of ``data/ids.py`` (JSON numbers are accepted:
    ``5`` -> ``"5"``)."""
    if isinstance(value, (dict, list, bool, float)) or value is None:
        raise DataError(
            f"{at(path, line)}: {what} {value!r} is not a valid id (expected a string or an integer)"
        )
    text = str(value).strip()
    if not text:
        raise DataError(f"{at(path, line)}: empty {what}")
    problem = id_problem(text)
    if problem:
        raise DataError(f"{at(path, line)}: {what} {text[:MAX_ID]!r} {problem}")
    return text


def sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_time(value: object, path: Path, line: int) -> float:
    """A numeric timestamp (int, float or numeric string); anything else is a ``DataError``."""
    try:
        t = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        t = math.nan
    if not math.isfinite(t):
        raise DataError(f"{at(path, line)}: timestamp {value!r} is not a number")
    return t
