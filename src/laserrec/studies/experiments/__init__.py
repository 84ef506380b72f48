"""The Laser paper's experiments as commands: ``laserrec experiment NAME --data DIR --out DIR``.

Each experiment is a module holding its cells (``runner.Cell``: a run name, a model and its settings),
``run`` (trains or reuses every cell through ``runner.Context``, returns the results), ``table`` and
``figure``. ``run_experiment`` writes ``OUT/results.json``, ``OUT/results.md`` and ``OUT/figure.png``;
the runs live in ``OUT/runs/NAME``. How to run each, its budgets and measured wall times:
docs/experiments.md.
"""

from __future__ import annotations

import datetime
import importlib
import time
from collections.abc import Sequence
from pathlib import Path

from laserrec.config import save_json
from laserrec.errors import ConfigError
from laserrec.studies.experiments.budget import Budget, parse_budget
from laserrec.studies.experiments.common import duration

EXPERIMENTS = {
    "main": "main",
    "ablation": "ablation",
    "cold-start": "cold_start",
    "transfer": "transfer",
    "sensitivity": "sensitivity",
    "cf-model": "cf_model",
}


def experiment_module(name: str):
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return importlib.import_module(f"laserrec.studies.experiments.{EXPERIMENTS[name]}")


def run_experiment(
    name: str,
    data_dir: str | Path,
    out: str | Path,
    budget: str | Budget = "cpu",
    target: str | Path | None = None,
    overrides: dict[str, dict] | None = None,
    progress: bool = True,
    command: str = "",
    runs: str | Path | None = None,
    partial: bool = False,
    only: Sequence[str] = (),
) -> str:
    """Run (or finish) experiment ``name``; write results.json, results.md and figure.png in ``out`` and
    return results.md's text. ``runs``: the folder of the cells' runs (default ``out/runs``); experiments
    that share one reuse each other's runs of a cell of the same name and settings. ``partial``: train
    nothing, write the results of the cells finished so far (the others marked not run) — to look at a
    long experiment while it runs or after it was stopped. ``only``: train just these cells, in the
    experiment's order, and write partial results — e.g. cells run in two processes at once, each with
    its own ``only``, sharing ``runs`` (a last call with neither gathers them all).

    >>> run_experiment("main", "data/scientific", "runs/exp/main", partial=True)  # doctest: +SKIP
    >>> run_experiment("main", "data/scientific", "runs/exp/main", only=["darec"])  # doctest: +SKIP
    """
    from laserrec.data.dataset import PreparedData
    from laserrec.studies.experiments.runner import Context

    module = experiment_module(name)
    budget = parse_budget(budget) if isinstance(budget, str) else budget
    PreparedData.load(data_dir)  # a bad folder fails before any work
    if getattr(module, "NEEDS_TARGET", False) and target is None:
        raise ConfigError(f"experiment {name} needs --target: the prepared dataset transferred to")
    chosen = _chosen_cells(module, name, partial, only)
    ctx = Context(name, Path(data_dir), Path(out), budget, overrides, progress, target, runs, chosen)
    start = time.perf_counter()
    payload = module.run(ctx)
    payload.update(
        experiment=name,
        title=module.TITLE,
        data=str(data_dir),
        target=str(target) if target else None,
        budget=str(budget),
        command=command,
        wall_seconds_this_invocation=round(time.perf_counter() - start, 1),
        wall_seconds_of_cells=ctx.cell_wall_seconds(),
        finished=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    if chosen is not None:
        payload.update(partial=True, not_run=ctx.not_run())
    out = Path(out)
    save_json(payload, out / "results.json")
    module.figure(payload, out / "figure.png")
    text = render(module, payload)
    (out / "results.md").write_text(text, encoding="utf-8")
    return text


def _chosen_cells(module, name: str, partial: bool, only: Sequence[str]) -> frozenset[str] | None:
    """The cells to train when only some are (none with ``partial``); None: every cell."""
    if not partial and not only:
        return None
    if partial and only:
        raise ConfigError("--partial trains nothing and --only trains the cells named: give one of them")
    flag = "--partial" if partial else "--only"
    if not getattr(module, "PARTIAL", False):
        supported = ", ".join(n for n in EXPERIMENTS if getattr(experiment_module(n), "PARTIAL", False))
        raise ConfigError(
            f"{flag}: experiment {name} shows results only once every cell has run "
            f"({flag} works for: {supported})"
        )
    known = module.cell_names()
    unknown = [c for c in only if c not in known]
    if unknown:
        raise ConfigError(
            f"--only: experiment {name} has no cell {', '.join(unknown)}; its cells: {', '.join(known)}"
        )
    return frozenset(only)


def render(module, payload: dict) -> str:
    """results.md: title, command, budget, wall time, the table, the figure, what each cell ran."""
    lines = [f"# {payload['title']}", ""]
    if payload.get("command"):
        lines += ["```bash", payload["command"], "```", ""]
    lines += [
        f"Data: `{Path(payload['data']).name}`"
        + (f" → `{Path(payload['target']).name}`" if payload.get("target") else "")
        + f"; budget `{payload['budget']}`; wall time of the cells "
        f"{duration(payload['wall_seconds_of_cells'])} (this invocation "
        f"{duration(payload['wall_seconds_this_invocation'])}). Test split, full ranking over every item, "
        "history not masked.",
        "",
    ]
    if payload.get("partial"):
        missing = payload["not_run"]
        lines += [
            f"**Partial results**: {len(missing)} cell(s) not run yet"
            + (f" ({', '.join(f'`{m}`' for m in missing)})" if missing else "")
            + "; the same command without `--partial` or `--only` runs them.",
            "",
        ]
    lines += [
        tied_to("results.json", module.table(payload)),
        "",
        "![figure](figure.png)",
        "",
    ]
    notes = getattr(module, "notes", None)
    if notes:
        lines += [notes(payload), ""]
    lines += ["What each cell ran (settings on top of the model's recipe):", ""]
    for row in _all_rows(payload):
        if row.get("not_run"):
            lines.append(f"- `{row['cell']}` ({row['model']}): not run yet")
            continue
        settings = ", ".join(f"{k}={_shown(v)}" for k, v in sorted((row.get("settings") or {}).items()))
        what = f"recipe {row['recipe']}; " if row.get("recipe") else ""
        lines.append(f"- `{row['cell']}` ({row['model']}): {what}{settings or 'defaults'}")
    return "\n".join(lines) + "\n"


def tied_to(source: str, text: str) -> str:
    """``text`` with ``<!-- figures: SOURCE -->`` above each of its tables that has no such line yet: the
    file that holds every figure in them (docs/results.md, "Figures and their files"; checked by
    tests/test_figures.py)."""
    lines = text.split("\n")
    out = []
    for n, line in enumerate(lines):
        starts_table = line.startswith("|") and n + 1 < len(lines) and lines[n + 1].startswith("|---")
        if starts_table and (n == 0 or not lines[n - 1].startswith(("|", "<!-- figures"))):
            out.append(f"<!-- figures: {source} -->")
        out.append(line)
    return "\n".join(out)


def _shown(value: object) -> object:
    """A setting as results.md shows it: a path of this machine (a local LLM folder) by its last part."""
    return Path(value).name if isinstance(value, str) and value.startswith("/") else value


def _all_rows(payload: dict) -> list[dict]:
    rows = list(payload.get("rows", []))
    for extra in payload.get("more_rows", []):
        rows.append(extra)
    return rows
