"""Cold-start items (the Laser paper's Figure 2): test users whose target is a cold item (bottom 35% of
training interaction counts, ``evaluation/groups.py``) against those whose target is warm, for Laser,
SASRec, BERT4Rec, Lite-LLM4Rec and the text-only floor."""

from __future__ import annotations

from pathlib import Path

from laserrec.evaluation.groups import grouped_metrics, popularity_groups, popularity_rule
from laserrec.studies.experiments.common import compact
from laserrec.studies.experiments.plots import grouped_bars
from laserrec.studies.experiments.runner import Cell, Context

TITLE = "Cold-start items: cold vs warm targets"
GROUPS = ("cold", "warm", "all")


def cells() -> list[Cell]:
    return [
        Cell("sasrec", "sasrec", label="SASRec"),
        Cell("bert4rec", "bert4rec", label="BERT4Rec"),
        Cell("lite_llm4rec", "lite_llm4rec", label="Lite-LLM4Rec"),
        Cell("laser", "laser", cf="sasrec", label="Laser"),
        Cell("text_floor", "text", label="text only (no training)"),
    ]


def run(ctx: Context) -> dict:
    _, split = ctx.dataset()
    groups = popularity_groups(split)
    rows = []
    for cell in cells():
        row = compact(ctx.run(cell))
        row["groups"] = grouped_metrics(ctx.ranks(cell), groups)
        rows.append(row)
    return {"rule": popularity_rule(split), "rows": rows}


def table(payload: dict) -> str:
    rule = payload["rule"]
    users = payload["rows"][0]["groups"]
    lines = [
        f"An item is cold when its training count is at most {rule['threshold_count']}, the count whose "
        f"share of items at or below it is nearest {rule['cold_share']:.0%}: {rule['cold_items']:,} of "
        f"{rule['items']:,} items ({rule['cold_items'] / rule['items']:.1%}); {users['cold']['users']:,} "
        f"test users have a cold target, {users['warm']['users']:,} a warm one.",
        "",
        "| model | cold Recall@10 | cold NDCG@10 | warm Recall@10 | warm NDCG@10 | all Recall@10 "
        "| all NDCG@10 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in payload["rows"]:
        g = r["groups"]
        cols = " | ".join(
            f"{g[name].get(m, float('nan')):.4f}" for name in GROUPS for m in ("recall@10", "ndcg@10")
        )
        lines.append(f"| {r['label']} | {cols} |")
    return "\n".join(lines)


def figure(payload: dict, path: Path) -> None:
    series = {r["label"]: [r["groups"][g].get("recall@10", 0.0) for g in GROUPS] for r in payload["rows"]}
    grouped_bars(list(GROUPS), series, path, "Recall@10 by target popularity", "test Recall@10")
