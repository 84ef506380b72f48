"""Markdown tables of the documentation, their figures and the JSON files that hold them.

The convention (docs/results.md, "Figures and their files"): a table of measured figures has an HTML
comment on the line above it that names the JSON files holding every figure in it,

    <!-- figures: ../benchmarks/results/id_models.json, experiments/main/results.json -->

(paths relative to the page, as links are), or says why it holds no measurement
(``<!-- not results: the settings each budget trains with -->``), or names the file a command will
write (``<!-- figures pending: results/main-job.json -->``). ``; derived: HEADER`` after the files
leaves out a column computed from the table's other figures (a difference, a ratio).

A figure is a number in a figure column (a column after the first where some body cell starts with a
number; the others are labels), outside `code`; it is held when some number in the named files rounds
to it at the precision it is shown with.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

MARKER = re.compile(r"<!--\s*(figures pending|figures|not results)\s*:\s*(.*?)\s*-->")
SEPARATOR = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
CODE = re.compile(r"`[^`]*`")
# A number stands alone: not part of a name (SmolLM2, L6, 135M, top-3, @10, K=8, 1e-3, a commit hash).
NUMBER = re.compile(
    r"(?<![\w.@=/-])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:(h)(\d+)m|(m)(\d+)s|(?:\s?|-)(ms|s|min|minutes?|m|h)\b|(%|×))?"
    r"(?![\w])"
)
LEADING = "*_~≈<>≤≥+−- "


@dataclass(frozen=True)
class Figure:
    """One number as a page shows it: ``text``, and the (value, half a unit of its last digit) pairs
    any of which a JSON number may equal (0.1050: 0.1050 ± 0.00005; 1m59s: 118.5 to 120 seconds, or
    the same in minutes)."""

    text: str
    readings: tuple[tuple[float, float], ...]


@dataclass
class Table:
    page: Path
    line: int  # 1-based line of the header row
    rows: list[list[str]]  # header first, separator left out
    kind: str | None = None  # "figures", "figures pending", "not results" or None (no marker)
    detail: str = ""  # what the marker says after its colon
    sources: list[Path] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)  # headers of columns computed from the others


def half_unit(text: str) -> float:
    """Half a unit of the last digit shown: "0.1050" -> 0.00005, "943" -> 0.5."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10.0**-decimals


def figures_in(cell: str) -> list[Figure]:
    """Every figure in a cell's text (code spans and emphasis already ignored)."""
    found = []
    for m in NUMBER.finditer(CODE.sub(" ", cell).replace("**", "")):
        value = float(m.group(1).replace(",", ""))
        half = half_unit(m.group(1))
        if m.group(2):  # 3h53m
            found.append(Figure(m.group(0), _duration(value * 3600 + float(m.group(3)) * 60, 60.0)))
        elif m.group(4):  # 1m59s
            found.append(Figure(m.group(0), _duration(value * 60 + float(m.group(5)), 1.0)))
        elif m.group(6):  # 89 s, 266 ms, 75m, 20-minute, 2.5 min
            scale = {"ms": 0.001, "s": 1.0, "h": 3600.0}.get(m.group(6), 60.0)
            found.append(Figure(m.group(0), _duration(value * scale, 2 * half * scale)))
        elif m.group(7) == "%":  # 65.0%: stored as 65.0 or as 0.650
            found.append(Figure(m.group(0), ((value, half), (value / 100, half / 100))))
        else:
            found.append(Figure(m.group(0), ((value, half),)))
    return found


def _duration(seconds: float, unit: float) -> tuple[tuple[float, float], ...]:
    """A duration read as seconds or as minutes, rounded or cut to its last unit shown: 3h53m is
    [3h52m30s, 3h54m]."""
    centre, half = seconds + unit / 4, unit * 3 / 4
    return (centre, half), (centre / 60, half / 60)


def starts_with_figure(cell: str) -> bool:
    text = CODE.sub("", cell).replace("**", "").lstrip(LEADING)
    return bool(text) and bool(NUMBER.match(text))


def split_row(line: str) -> list[str]:
    """The cells of ``| a | b |`` (pipes inside code spans do not split)."""
    body = CODE.sub(lambda m: m.group(0).replace("|", "\x00"), line.strip())
    cells = body.strip("|").split("|")
    return [c.replace("\x00", "|").strip() for c in cells]


def tables_in(page: Path) -> list[Table]:
    """Every markdown table of a page outside code fences, with the marker above it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    tables, fenced, n = [], False, 0
    while n < len(lines):
        line = lines[n]
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("|") and n + 1 < len(lines) and SEPARATOR.match(lines[n + 1]):
            end = n + 2
            while end < len(lines) and lines[end].startswith("|"):
                end += 1
            rows = [split_row(row) for row in [line, *lines[n + 2 : end]]]
            tables.append(_with_marker(Table(page, n + 1, rows), lines[:n]))
            n = end
            continue
        n += 1
    return tables


def _with_marker(table: Table, above: list[str]) -> Table:
    """Read the marker among the comment lines right above the table (blank lines between allowed)."""
    for line in reversed(above):
        if not line.strip():
            continue
        m = MARKER.search(line)
        if not line.strip().startswith("<!--"):
            break
        if m:
            table.kind, table.detail = m.group(1), m.group(2)
            if table.kind != "not results":
                files, *parts = m.group(2).split(";")
                names = files.split(" ")[0] if table.kind == "figures pending" else files
                table.sources = [
                    (table.page.parent / p.strip()).resolve() for p in names.split(",") if p.strip()
                ]
                derived = [p.strip() for p in parts if p.strip().startswith("derived:")]
                table.derived = [p.split(":", 1)[1].strip() for p in derived]
            break
    return table


def figure_columns(table: Table) -> list[int]:
    """Columns after the first where some body cell starts with a number, less those the marker calls
    derived; the rest are labels (the first column names the rows)."""
    body, header = table.rows[1:], table.rows[0]
    width = max(len(r) for r in table.rows)
    derived = [c for c in range(len(header)) if header[c] in table.derived]
    return [
        c
        for c in range(1, width)
        if c not in derived and any(c < len(r) and starts_with_figure(r[c]) for r in body)
    ]


def table_figures(table: Table) -> list[tuple[int, Figure]]:
    """(row number within the body, figure) of every figure in the table's figure columns."""
    columns = figure_columns(table)
    return [
        (i, f)
        for i, row in enumerate(table.rows[1:], start=1)
        for c in columns
        if c < len(row)
        for f in figures_in(row[c])
    ]


def looks_like_results(table: Table) -> bool:
    """A table needs a marker when its figures include a decimal, a duration, a share or a ratio."""
    return any("." in f.text or not f.text.replace(",", "").isdigit() for _, f in table_figures(table))


def json_numbers(paths: list[Path]) -> list[float]:
    """Every number in the files (absolute values), numeric keys and list lengths included, sorted."""
    out: list[float] = []

    def walk(node) -> None:
        if isinstance(node, bool) or node is None:
            return
        if isinstance(node, (int, float)):
            if math.isfinite(node):
                out.append(abs(float(node)))
        elif isinstance(node, str):
            if re.fullmatch(r"-?\d+(\.\d+)?", node):
                out.append(abs(float(node)))
        elif isinstance(node, list):
            out.append(float(len(node)))
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(key)
                walk(value)

    for path in paths:
        walk(json.loads(path.read_text(encoding="utf-8")))
    return sorted(out)


def held(figure: Figure, numbers: list[float]) -> bool:
    """Whether some number rounds to the figure at its shown precision (``numbers`` sorted)."""
    from bisect import bisect_left

    for value, half in figure.readings:
        slack = half * (1 + 1e-9) + 1e-12
        i = bisect_left(numbers, value - slack)
        if i < len(numbers) and numbers[i] <= value + slack:
            return True
    return False


def heading_anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings ("## 14. Why ours?" -> "14-why-ours")."""
    anchors, seen, fenced = set(), {}, False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if fenced or not re.match(r"#{1,6} ", line):
            continue
        slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors
