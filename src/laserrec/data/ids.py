"""What a raw id may hold: the one rule ``prepare`` (every reader), ``add-items`` and ``POST /items`` apply.

An id is text of 1 to ``MAX_ID`` characters, without spaces at either end (they are stripped when read) and
without control characters (U+0000-U+001F and U+007F-U+009F: NUL, tab, newline, escape, ...): such an id
could not be typed, shown in a table or put in a URL path reliably; and no part between slashes may be ``.``
or ``..`` (HTTP clients take those for steps in the path of ``GET /items/{id}``). Anything else is allowed,
``/`` included (``GET /items/{id}`` takes the rest of the path whole).
"""

from __future__ import annotations

import unicodedata

MAX_ID = 200  # characters


def id_problem(text: str) -> str | None:
    """Why ``text`` (already stripped) is not a valid raw id, or None when it is one."""
    if not text:
        return "is empty"
    if len(text) > MAX_ID:
        return f"is {len(text):,} characters long (at most {MAX_ID})"
    if any(part in (".", "..") for part in text.split("/")):
        return "has a part '.' or '..' between slashes, which a URL client would read as a step in the path"
    for n, char in enumerate(text):
        if unicodedata.category(char) == "Cc":
            return f"holds a control character (U+{ord(char):04X} at character {n}); ids may not hold any"
    return None
