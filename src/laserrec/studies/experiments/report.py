"""``laserrec report DIR... --out PAGE``: experiments' results.md and figures gathered into one page —
markdown (figures linked relative to the page) or, for a ``.html`` page, HTML with the figures inlined."""

from __future__ import annotations

import base64
import html
import json
import os
import re
from pathlib import Path

from laserrec.errors import ConfigError


def _sections(folders: list[Path], page: Path) -> list[tuple[str, str, Path | None]]:
    """(title, results.md body without its title, figure path) per experiment folder."""
    out = []
    for folder in folders:
        results, md = folder / "results.json", folder / "results.md"
        if not results.is_file() or not md.is_file():
            raise ConfigError(
                f"{folder}: no results.json and results.md; run `laserrec experiment` there first"
            )
        title = json.loads(results.read_text(encoding="utf-8")).get("title", folder.name)
        body = md.read_text(encoding="utf-8").split("\n", 1)[1]  # drop the "# title" line
        figure = folder / "figure.png"
        out.append((title, body, figure if figure.is_file() else None))
    return out


def write_report(folders: list[Path], page: Path) -> Path:
    page = Path(page)
    sections = _sections([Path(f) for f in folders], page)
    page.parent.mkdir(parents=True, exist_ok=True)
    text = to_html(sections) if page.suffix == ".html" else to_markdown(sections, page)
    page.write_text(text, encoding="utf-8")
    return page


def to_markdown(sections, page: Path) -> str:
    lines = ["# Experiments", ""]
    lines += [f"- [{title}](#{_anchor(title)})" for title, _, _ in sections] + [""]
    for title, body, figure in sections:
        link = os.path.relpath(figure, page.parent) if figure else None
        body = body.replace("![figure](figure.png)", f"![{title}]({link})" if link else "")
        lines += [f"## {title}", "", body.strip(), ""]
    return "\n".join(lines) + "\n"


def _anchor(title: str) -> str:
    return re.sub(r"[^\w\- ]", "", title.lower()).strip().replace(" ", "-")


def to_html(sections) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Experiments</title><style>"
        "body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px}pre{background:#f4f4f4;padding:6px}"
        "</style></head><body><h1>Experiments</h1>"
    ]
    for title, body, figure in sections:
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(_markdown_to_html(body, figure))
    return "".join(parts) + "</body></html>\n"


def _markdown_to_html(body: str, figure: Path | None) -> str:
    """The small markdown subset results.md uses: code blocks, tables, images, lists, paragraphs."""
    out, lines, i = [], body.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), len(lines))
            out.append(f"<pre>{html.escape(chr(10).join(lines[i + 1 : end]))}</pre>")
            i = end + 1
            continue
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                if not set(lines[i]) <= set("|-: "):
                    rows.append([_inline(c.strip()) for c in lines[i].strip("|").split("|")])
                i += 1
            head, *rest = rows
            out.append(
                "<table><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr>"
                + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rest)
                + "</table>"
            )  # fmt: skip
            continue
        if line.startswith("![") and figure is not None:
            data = base64.b64encode(figure.read_bytes()).decode("ascii")
            out.append(f"<p><img src='data:image/png;base64,{data}' alt='figure'></p>")
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append(f"<ul>{''.join(items)}</ul>")
            continue
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "\n".join(out)


def _inline(text: str) -> str:
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(text))
