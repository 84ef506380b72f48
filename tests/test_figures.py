"""Every measured figure in a table of the README, docs/ or benchmarks/ is held by a committed JSON file
that the table names; links into a page reach one of its headings.

The convention is in docs/results.md ("Figures and their files"); the parsing is in doc_tables.py.
Each failure names page:line of the table, the row, the figure and the files it was looked for in.
"""

import json
import re
from functools import cache
from pathlib import Path

import pytest

from doc_tables import (
    Figure,
    figures_in,
    heading_anchors,
    held,
    json_numbers,
    looks_like_results,
    table_figures,
    tables_in,
)

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]*)\)")
CODE_FENCE = re.compile(r"```.*?```", re.DOTALL)


def pages() -> list[Path]:
    docs, benchmarks = sorted((ROOT / "docs").rglob("*.md")), sorted((ROOT / "benchmarks").rglob("*.md"))
    return [ROOT / "README.md", *docs, *benchmarks]


@cache
def all_tables() -> tuple:
    return tuple(t for page in pages() for t in tables_in(page))


def where(table) -> str:
    return f"{table.page.relative_to(ROOT)}:{table.line}"


def unheld(table) -> list[str]:
    """'row N: FIGURE' for every figure of a `figures:` table that none of its files holds."""
    numbers = json_numbers(table.sources)
    return [f"row {row}: {fig.text}" for row, fig in table_figures(table) if not held(fig, numbers)]


def test_every_results_table_names_its_files():
    bare = [where(t) for t in all_tables() if t.kind is None and looks_like_results(t)]
    assert not bare, (
        "tables of figures with no `<!-- figures: FILE.json -->` (or `<!-- not results: WHY -->`) line "
        "above them:\n" + "\n".join(bare)
    )


def test_every_file_a_table_names_is_there_and_reads_as_json():
    problems = []
    for table in (t for t in all_tables() if t.kind == "figures"):
        if not table.sources:
            problems.append(f"{where(table)}: the marker names no file")
        absent = [h for h in table.derived if h not in table.rows[0]]
        problems += [f"{where(table)}: no column {h!r} to leave out" for h in absent]
        for path in table.sources:
            name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            if not path.is_file():
                problems.append(f"{where(table)}: {name}: no such file")
                continue
            try:
                json.loads(path.read_text(encoding="utf-8"))
            except ValueError as e:
                problems.append(f"{where(table)}: {name}: not JSON: {e}")
    assert not problems, "\n".join(problems)


def test_every_figure_is_held_by_the_files_its_table_names():
    missing = [
        f"{where(t)} {line}  (not in {', '.join(str(p.relative_to(ROOT)) for p in t.sources)})"
        for t in all_tables()
        if t.kind == "figures" and all(p.is_file() for p in t.sources)
        for line in unheld(t)
    ]
    assert not missing, "figures no named file holds at their shown precision:\n" + "\n".join(missing)


def test_a_table_opted_out_says_why():
    silent = [where(t) for t in all_tables() if t.kind == "not results" and len(t.detail.split()) < 3]
    assert not silent, "`<!-- not results: ... -->` needs a reason of a few words:\n" + "\n".join(silent)


def test_pending_tables_wait_for_a_file_that_is_not_there_yet():
    pending = [t for t in all_tables() if t.kind == "figures pending"]
    arrived = [f"{where(t)}: {t.sources[0].relative_to(ROOT)}" for t in pending if t.sources[0].exists()]
    assert not arrived, "the file is there now: make these `<!-- figures: ... -->`:\n" + "\n".join(arrived)
    if pending:
        pytest.skip("figures pending: " + "; ".join(f"{where(t)} ({t.detail})" for t in pending))


def test_links_into_a_page_reach_one_of_its_headings():
    dead = []
    for page in pages():
        text = CODE_FENCE.sub("", page.read_text(encoding="utf-8"))
        for target in LINK.findall(text):
            path, _, anchor = target.partition("#")
            if not anchor or path.startswith(("http://", "https://", "mailto:")):
                continue
            linked = (page.parent / path) if path else page
            if linked.suffix == ".md" and linked.is_file() and anchor not in heading_anchors(linked):
                dead.append(f"{page.relative_to(ROOT)}: {target}")
    assert not dead, "links to a heading that is not there:\n" + "\n".join(dead)


# The parsing, on hand-made text.


@pytest.mark.parametrize(
    "cell, shown, reading",
    [
        ("**0.1050**", "0.1050", (0.1050, 0.00005)),
        ("5,144.6", "5,144.6", (5144.6, 0.05)),
        ("943", "943", (943.0, 0.5)),
        ("1m59s", "1m59s", (119.25, 0.75)),  # 118.5 s (rounded up) to 120 s (cut)
        ("3h53m", "3h53m", (13995.0, 45.0)),  # 13,950 s to 14,040 s
        ("89 s", "89 s", (89.25, 0.75)),
        ("65.0%", "65.0%", (65.0, 0.05)),
        ("≤ 0.073×", "0.073×", (0.073, 0.0005)),
    ],
)
def test_a_figure_is_read_with_its_precision(cell, shown, reading):
    (figure,) = figures_in(cell)
    assert figure.text == shown
    assert figure.readings[0] == pytest.approx(reading)


def test_names_code_and_settings_hold_no_figure():
    cell = "Laser + SmolLM2-135M, all-MiniLM-L6-v2, top-3, K=8, Recall@10 at commit 5408e3f, `--lr=1e-3`"
    assert figures_in(cell) == []


def test_a_figure_is_held_only_at_its_shown_precision():
    numbers = sorted([0.10496, 119.4, 0.02309, 0.65])
    assert held(figures_in("0.1050")[0], numbers)
    assert not held(figures_in("0.1051")[0], numbers)
    assert held(figures_in("1m59s")[0], numbers)
    assert not held(figures_in("2m01s")[0], numbers)
    assert held(figures_in("65.0%")[0], numbers)  # 0.65 as a share
    assert held(Figure("0.023", ((0.023, 0.0005),)), numbers)
    assert not held(figures_in("0.0232")[0], numbers)


PAGE = """# Page

<!-- figures: run.json -->
| model | Recall@10 | train time | command |
|---|---|---|---|
| SASRec (3 seeds) | 0.1050 ± 0.0018 | 1m59s | `laserrec train --epochs 40` |

| format | files |
|---|---|
| csv | interactions.csv |
"""


def page_with(tmp_path: Path, text: str, data: dict) -> Path:
    (tmp_path / "run.json").write_text(json.dumps(data))
    page = tmp_path / "page.md"
    page.write_text(text)
    return page


def test_a_tied_table_passes_and_a_changed_figure_fails(tmp_path):
    data = {"test": {"recall@10": 0.10502, "std": 0.00181}, "wall_seconds": 119.3}
    tied, settings = tables_in(page_with(tmp_path, PAGE, data))
    assert (tied.kind, [p.name for p in tied.sources]) == ("figures", ["run.json"])
    assert settings.kind is None and not looks_like_results(settings)
    assert unheld(tied) == []
    (changed,) = tables_in(page_with(tmp_path, PAGE.replace("0.1050", "0.1060"), data))[:1]
    assert unheld(changed) == ["row 1: 0.1060"]


def test_a_table_of_figures_without_a_marker_is_found(tmp_path):
    (bare, _) = tables_in(page_with(tmp_path, PAGE.replace("<!-- figures: run.json -->\n", ""), {}))
    assert bare.kind is None and looks_like_results(bare)


def test_headings_give_github_anchors(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("## 14. Why did RecBole's SASRec lead?\n```\n# not a heading\n```\n## A\n## A\n")
    assert heading_anchors(page) == {"14-why-did-recboles-sasrec-lead", "a", "a-1"}


def test_the_main_jobs_printed_table_is_held_by_the_results_json_written_beside_it(tmp_path):
    from laserrec.pipeline import metrics_table

    test = {"recall@10": 0.10498, "ndcg@10": 0.05213, "mrr": 0.05081, "users": 943, "mask_seen": False}
    row = {"model": "sasrec", "test": test, "wall_seconds": 119.3, "inference": {"users_per_second": 5144.62}}
    saved = {"data": "runs/quickstart/data/ml-100k/prepared", "rows": [row]}  # what `compare` writes
    page = page_with(tmp_path, "<!-- figures: run.json -->\n" + metrics_table([row]) + "\n", saved)
    (table,) = tables_in(page)
    shown = [f.text for _, f in table_figures(table)]
    assert shown == ["0.1050", "0.0521", "0.0508", "943", "1m59s", "5,144.6"]
    assert unheld(table) == []
