"""Every ablation switch of the Laser paper (its Table 3), each one run of Laser with one switch changed,
against the full model; all read the same frozen SASRec. At the cpu budget each Laser run is the shorter
schedule (``Budget.short_laser``), so nine of them fit. The switches apply to any recipe
(``--set laser.recipe=paper-cpu`` ablates the paper's method at CPU sizes)."""

from __future__ import annotations

from pathlib import Path

from laserrec.studies.experiments.budget import Budget
from laserrec.studies.experiments.common import HEAD, compact, metric_columns
from laserrec.studies.experiments.plots import horizontal_bars
from laserrec.studies.experiments.runner import Cell, Context

TITLE = "Ablations of Laser (the paper's Table 3)"

# (cell, what the paper calls it, the switch)
VARIANTS: list[tuple[str, str, dict]] = [
    ("laser_short", "Laser (full)", {}),
    ("no_prefix", "w/o prefix", {"use_prefix": False}),
    ("mean_pooling", "suffix → mean pooling", {"pooling": "mean"}),
    ("eos_pooling", "suffix → EOS token", {"pooling": "eos"}),
    ("learned_prefix", "w/o M-Former (learned prefix)", {"prefix_source": "learned"}),
    ("single_expert", "one expert", {"single_expert": True}),
    ("no_lb_loss", "w/o load-balancing loss", {"use_lb_loss": False}),
    ("no_phase1", "w/o phase 1", {"phase1": False}),
    ("no_phase2", "w/o phase 2", {"phase2": False}),
]


def cells(budget: Budget) -> list[Cell]:
    short = budget.short_laser()
    return [Cell("sasrec", "sasrec", label="SASRec (the ID model read)")] + [
        Cell(name, "laser", {**short, **switch}, cf="sasrec", label=label) for name, label, switch in VARIANTS
    ]


def run(ctx: Context) -> dict:
    rows = []
    switches = {name: switch for name, _, switch in VARIANTS}
    for cell in cells(ctx.budget):
        row = compact(ctx.run(cell))
        row["switch"] = switches.get(cell.name, {})
        if cell.model == "laser":
            row["best_phase"] = best_phase(ctx.run_dir(cell), row.get("best_epoch"))
        rows.append(row)
    return {"rows": rows}


def best_phase(run_dir: Path, best_epoch: int | None) -> int | None:
    """The training phase of the run's best epoch (0 = Laser's warm-up), from its log.jsonl."""
    import json

    log = run_dir / "log.jsonl"
    if best_epoch is None or not log.exists():
        return None
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    return next((r.get("phase") for r in rows if r["epoch"] == best_epoch), None)


def table(payload: dict) -> str:
    full = next(r for r in payload["rows"] if r["cell"] == "laser_short")["test"]
    lines = [
        "<!-- figures: results.json; derived: Δ NDCG@10 vs full -->",
        f"| variant | switch | {HEAD} | Δ NDCG@10 vs full | best epoch (phase) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in payload["rows"]:
        switch = ", ".join(f"`{k}={str(v).lower()}`" for k, v in r["switch"].items()) or "–"
        delta = "–" if r["model"] != "laser" else f"{r['test']['ndcg@10'] - full['ndcg@10']:+.4f}"
        best = "–" if r.get("best_phase") is None else f"{r['best_epoch']} ({r['best_phase']})"
        lines.append(f"| {r['label']} | {switch} | {metric_columns(r['test'])} | {delta} | {best} |")
    return "\n".join(lines)


def notes(payload: dict) -> str:
    warm = [r["label"] for r in payload["rows"] if r["model"] == "laser" and r.get("best_phase") == 0]
    if not warm:
        return ""
    return (
        f"Phase 0 is laserrec's suffix warm-up. For {', '.join(warm)} no contrastive epoch beat the warm-up "
        "on validation, so the checkpoint tested is a warm-up epoch's: those rows measure the warm-up, "
        "not the variant's training (at this budget)."
    )


def figure(payload: dict, path: Path) -> None:
    rows = [r for r in payload["rows"] if r["model"] == "laser"]
    horizontal_bars(
        [r["label"] for r in rows],
        [r["test"]["ndcg@10"] for r in rows],
        path,
        "Laser ablations",
        "test NDCG@10",
    )
