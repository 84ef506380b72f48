"""The project speaks of itself: no build narration, no pointers outside the repository, no dead paths.

Scans README.md, docs/, src/, configs/ and benchmarks/ (tests/ is left out: these patterns live here).
Each failure lists file:line and the line, so a hit is found at once.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ["README.md", "docs", "src", "configs", "benchmarks"]
SUFFIXES = {".md", ".py", ".yaml", ".yml", ".json", ".toml", ".txt", ".cfg"}

# How the project was built is not what it is: numbered work periods, issue numbers as history,
# the design brief and folders outside the repository.
NARRATION = [
    re.compile(r"\bsessions? (\d|end\b)", re.IGNORECASE),
    re.compile(r"\bsession-\d", re.IGNORECASE),
    re.compile(r"\b(this|that|the|next|previous|last|each|every|one) session\b", re.IGNORECASE),
    re.compile(r"\bissues? #?\d", re.IGNORECASE),
    re.compile(r"\bthe issue\b|\bissue's\b", re.IGNORECASE),
    re.compile(r"\(#\d+\)"),
    re.compile(r"(?<![\w(\[/&])#\d+\b(?![\w-])"),
    re.compile(r"\bDESIGN\b"),
    re.compile(r"\.\./shared\b|\bshared/[\w-]+\.md\b|/work/"),
]
# Pages, scripts and configs named in the text must exist. Not checked: .json paths (mostly files a command
# writes) and paths on a line that names the commit they ran at.
REPO_PATH = re.compile(r"(?<![\w/.-])((?:docs|benchmarks|configs|src)/[\w./-]*\w\.(?:md|py|yaml))\b")
AT_COMMIT = re.compile(r"\bcommit [0-9a-f]{7}\b")
MD_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
WEB = ("http://", "https://", "mailto:")


def text_files() -> list[Path]:
    files = []
    for name in SCANNED:
        path = ROOT / name
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        files += [p for p in candidates if p.is_file() and p.suffix in SUFFIXES]
    return [
        p for p in files if "__pycache__" not in p.parts and not any(x.endswith(".egg-info") for x in p.parts)
    ]


def narration_hits(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line that narrates how the project was built."""
    return [
        (n, line.strip())
        for n, line in enumerate(text.splitlines(), start=1)
        if any(p.search(line) for p in NARRATION)
    ]


def dead_paths(path: Path, text: str) -> list[tuple[int, str]]:
    """(line number, path) of repository paths and relative markdown links that name no existing file."""
    hits = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not AT_COMMIT.search(line):
            hits += [(n, target) for target in REPO_PATH.findall(line) if not (ROOT / target).exists()]
        if path.suffix == ".md":
            links = [link for link in MD_LINK.findall(line) if not link.startswith(WEB)]
            hits += [(n, link) for link in links if not (path.parent / link).exists()]
    return hits


def report(found: dict[Path, list[tuple[int, str]]]) -> str:
    return "\n".join(
        f"{path.relative_to(ROOT)}:{n}: {text}" for path, hits in found.items() for n, text in hits
    )


def test_no_text_narrates_how_the_project_was_built():
    found = {p: hits for p in text_files() if (hits := narration_hits(p.read_text(encoding="utf-8")))}
    assert not found, "build narration or a path outside the repository:\n" + report(found)


def test_every_repository_path_and_link_in_the_text_exists():
    found = {p: hits for p in text_files() if (hits := dead_paths(p, p.read_text(encoding="utf-8")))}
    assert not found, "paths that name no file:\n" + report(found)


S = (
    "sess" + "ion"
)  # the detector's own examples, spelled so that no scan of this file reads them as narration


@pytest.mark.parametrize(
    "line",
    [
        f"measured with `/usr/bin/time -v` on an idle machine in {S} 17). Its",
        f"0.0090 (bf16, {S}s 6–8) and 0.0117 / 0.0058 / 0.0089",
        f"| Laser + MiniLM, `configs/laser-minilm-repeat.yaml` ({S} 15) | **0.1071** |",
        f"README: {S}-15 results",
        "| Laser, SmolLM2-135M | default path | `compile=true` | target (#4) |",
        "bench figures: every #4 target met",
        "text only, no training (frozen MiniLM mean pooling; the DESIGN's floor)",
        "`../shared/datasets` skip when it is absent).",
        "RecBole runs with the settings of `shared/recbole-peer.md`",
        "The issue's default backbone had never come near the baselines",
        f"resumed once across a {S} end, 60m16s",
        '"data": "/work/data/scientific",',
    ],
)
def test_the_scan_catches_lines_of_the_old_text(line):
    assert narration_hits(line) == [(1, line.strip())]


@pytest.mark.parametrize(
    "line",
    [
        'Paper: B. Hidasi et al., "Session-based Recommendations with Recurrent Neural Networks", ICLR 2016.',
        "1. [How far do text and the ID model go?](#1-how-far-do-text-and-the-id-model-go)",
        "the design differences behind it (not separately measured)",
        "ranks at Recall@10 0.028 on 500 validation users (commit 7cd360a)",
    ],
)
def test_the_scan_leaves_ordinary_text_alone(line):
    assert narration_hits(line) == []


def test_dead_paths_are_found(tmp_path):
    page = tmp_path / "page.md"
    text = (
        "see docs/no-such-page.md and [this](missing.md), not [here](page.md), benchmarks/README.md,\n"
        "benchmarks/results/written-by-a-run.json or benchmarks/gone.py at commit 564732d\n"
    )
    page.write_text(text)
    assert dead_paths(page, text) == [(1, "docs/no-such-page.md"), (1, "missing.md")]
