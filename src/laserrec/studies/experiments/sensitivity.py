"""Sensitivity of Laser to K (experts), L (prefix tokens), λ (load-balancing weight) and the number of
suffix tokens: one setting changed at a time from the recipe's (K=4, L=4, λ=0.05, one suffix token; the
base run is the ablation's full Laser); all runs read the same frozen SASRec. At the cpu budget each is
the shorter Laser schedule (``Budget.short_laser``)."""

from __future__ import annotations

from pathlib import Path

from laserrec.studies.experiments.budget import Budget
from laserrec.studies.experiments.common import HEAD, compact, metric_columns
from laserrec.studies.experiments.plots import line_panels
from laserrec.studies.experiments.runner import Cell, Context

TITLE = "Sensitivity of Laser to K, L, λ and the suffix tokens"
BASE = {"n_experts": 4, "n_prefix": 4, "lb_weight": 0.05, "n_suffix": 1}
# (setting, axis label, values); the base value of each is one run shared by all four
SWEEPS: list[tuple[str, str, list]] = [
    ("n_experts", "K (experts)", [2, 4, 8]),
    ("n_prefix", "L (prefix tokens)", [2, 4, 8]),
    ("lb_weight", "λ (load-balancing weight)", [0.01, 0.05, 0.1]),
    ("n_suffix", "suffix tokens", [1, 2, 4]),
]


def cell_for(key: str, value, budget: Budget) -> Cell:
    short = budget.short_laser()  # the ablation's base run too
    if value == BASE[key]:
        return Cell("laser_short", "laser", short, cf="sasrec", label="Laser (base)")  # the recipe's values
    settings = {**short, key: value}
    if key == "n_experts":
        settings["top_k"] = min(2, value)  # top-2 of K, as the recipe
    return Cell(f"{key}_{value:g}", "laser", settings, cf="sasrec", label=f"{key}={value:g}")


def cells(budget: Budget) -> list[Cell]:
    out = [Cell("sasrec", "sasrec", label="SASRec (the ID model read)")]
    for key, _, values in SWEEPS:
        for cell in (cell_for(key, v, budget) for v in values):
            if cell.name not in {o.name for o in out}:
                out.append(cell)
    return out


def run(ctx: Context) -> dict:
    for cell in cells(ctx.budget):
        ctx.run(cell)
    sweeps = []
    for key, axis, values in SWEEPS:
        points = [{"value": v, **compact(ctx.results[cell_for(key, v, ctx.budget).name])} for v in values]
        sweeps.append({"setting": key, "axis": axis, "points": points})
    return {"base": BASE, "sweeps": sweeps, "rows": [compact(r) for r in ctx.results.values()]}


def table(payload: dict) -> str:
    lines = [f"| setting | value | {HEAD} |", "|---|---|---|---|---|"]
    for sweep in payload["sweeps"]:
        for p in sweep["points"]:
            base = " (base)" if p["value"] == payload["base"][sweep["setting"]] else ""
            lines.append(f"| {sweep['axis']} | {p['value']:g}{base} | {metric_columns(p['test'])} |")
    return "\n".join(lines)


def figure(payload: dict, path: Path) -> None:
    panels = [
        (
            s["axis"],
            [p["value"] for p in s["points"]],
            {
                m: [p["test"][k] for p in s["points"]]
                for m, k in (("Recall@10", "recall@10"), ("NDCG@10", "ndcg@10"))
            },
        )
        for s in payload["sweeps"]
    ]
    line_panels(panels, path, "Laser: one setting changed at a time", "test metric")
