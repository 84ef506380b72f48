"""The ID model Laser reads: Laser with M-Former over a frozen SASRec against the same over a frozen
BERT4Rec (with the ``laserrec`` recipe the same ID model is also the teacher of ``distill``)."""

from __future__ import annotations

from pathlib import Path

from laserrec.studies.experiments.common import HEAD, compact, metric_columns
from laserrec.studies.experiments.plots import grouped_bars
from laserrec.studies.experiments.runner import Cell, Context

TITLE = "The ID model Laser reads: SASRec vs BERT4Rec"
ID_MODELS = (("sasrec", "SASRec"), ("bert4rec", "BERT4Rec"))


def cells() -> list[Cell]:
    out = []
    for name, label in ID_MODELS:
        out.append(Cell(name, name, label=label))
        laser = "laser" if name == "sasrec" else f"laser_{name}"  # the first: the other experiments' Laser
        out.append(Cell(laser, "laser", cf=name, label=f"Laser reading {label}"))
    return out


def run(ctx: Context) -> dict:
    return {"rows": [compact(ctx.run(cell)) for cell in cells()]}


def table(payload: dict) -> str:
    lines = [f"| model | {HEAD} | train time |", "|---|---|---|---|---|"]
    from laserrec.studies.experiments.common import duration

    for r in payload["rows"]:
        lines.append(
            f"| {r['label']} | {metric_columns(r.get('test'))} | {duration(r.get('wall_seconds'))} |"
        )
    return "\n".join(lines)


def figure(payload: dict, path: Path) -> None:
    rows = {r["cell"]: r for r in payload["rows"]}
    groups = [label for _, label in ID_MODELS]
    series = {
        "ID model alone": [rows[name]["test"]["ndcg@10"] for name, _ in ID_MODELS],
        "Laser reading it": [rows[laser]["test"]["ndcg@10"] for laser in ("laser", "laser_bert4rec")],
    }
    grouped_bars(groups, series, path, "Laser by the ID model M-Former reads", "test NDCG@10")
