"""The main table: every model on one protocol — most popular, the text-only floor, a late fusion of
SASRec's scores with the text floor's (its weight chosen on validation), SASRec and BERT4Rec with and
without the history offset, Laser by its recipes, Lite-LLM4Rec and DARec — with SASRec, BERT4Rec and the
best Laser (the ``laserrec`` recipe) over three seeds, mean ± standard deviation. Laser of seed s reads
the SASRec of seed s, so the spread covers the whole pipeline."""

from __future__ import annotations

from math import nan
from pathlib import Path

from laserrec.studies.experiments.common import (
    HEAD,
    compact,
    duration,
    mean_spread,
    metric_columns,
    seed_summary,
)
from laserrec.studies.experiments.plots import grouped_bars
from laserrec.studies.experiments.runner import Cell, Context

TITLE = "Main table: every model on one protocol"
PARTIAL = True  # `--partial` shows the cells finished so far (seeds: those that ran)
SEEDS = (2020, 2021, 2022)
SEEDED = {"sasrec": "SASRec", "bert4rec": "BERT4Rec", "laser": "Laser (laserrec recipe)"}


def seeded(name: str, seed: int) -> str:
    return name if seed == SEEDS[0] else f"{name}_seed{seed}"


def cells() -> list[Cell]:
    """In the order they run: the cheap ID models of every seed, then the single-seed line-up, then the
    other seeds of Laser — an experiment stopped early has the whole line-up first."""
    out = [
        Cell("most_popular", "most_popular", label="most popular"),
        Cell("text_floor", "text", label="text only (no training)"),
    ]
    for name, label in (("sasrec", "SASRec"), ("bert4rec", "BERT4Rec")):
        out += [Cell(seeded(name, s), name, seed_setting(s), label=f"{label} (seed {s})") for s in SEEDS]
    laser = [
        Cell(seeded("laser", s), "laser", seed_setting(s), cf=seeded("sasrec", s), label=f"Laser (seed {s})")
        for s in SEEDS
    ]
    offset = {"repeat_bias": True}
    lineup = [
        Cell("fusion", "fusion", cf="sasrec", label="SASRec + text, late fusion"),
        Cell("sasrec_offset", "sasrec", offset | {"repeat_init": 5.0}, label="SASRec + offset"),
        Cell("bert4rec_offset", "bert4rec", offset, label="BERT4Rec + offset"),
        # the paper's method with the LLM of the `laserrec` recipe, so the two Laser rows differ only in
        # the recipe's additions (paper-cpu's own SmolLM2-135M: `--set laser_paper_cpu.llm=smollm2`, ~10x
        # the time)
        Cell(
            "laser_paper_cpu",
            "laser",
            {"recipe": "paper-cpu", "llm": "minilm"},
            cf="sasrec",
            label="Laser (paper-cpu recipe, MiniLM)",
        ),
        Cell("lite_llm4rec", "lite_llm4rec", label="Lite-LLM4Rec"),
        Cell("darec", "darec", cf="sasrec", label="DARec"),
    ]
    return out + laser[:1] + lineup + laser[1:]


def cell_names() -> list[str]:
    """Every cell's name (``--only`` checks against them)."""
    return [c.name for c in cells()]


def seed_setting(seed: int) -> dict:
    return {} if seed == SEEDS[0] else {"seed": seed}


ORDER = [
    "most_popular", "text_floor", "fusion", "sasrec", "sasrec_offset", "bert4rec", "bert4rec_offset",
    "laser", "laser_paper_cpu", "lite_llm4rec", "darec",
]  # fmt: skip


def run(ctx: Context) -> dict:
    results = {c.name: compact(ctx.run(c)) for c in cells()}
    seeds = {}
    for name, label in SEEDED.items():
        ran = [results[seeded(name, s)] for s in SEEDS if "test" in results[seeded(name, s)]]
        if ran:
            seeds[name] = seed_summary(ran) | {"label": label}
    rows = [results[name] for name in ORDER]
    extra = [results[seeded(name, s)] for name in SEEDED for s in SEEDS[1:]]
    return {"rows": rows, "more_rows": extra, "seeds": seeds}


def table(payload: dict) -> str:
    lines = [f"| model | {HEAD} | train time | users/s |", "|---|---|---|---|---|---|"]
    every = max((r["test"]["users"] for r in payload["rows"] if r.get("test")), default=0)
    for r in payload["rows"]:
        speed = f"{r['users_per_second']:,.1f}" if r.get("users_per_second") else "–"
        time = duration(r.get("fit_wall_seconds") or r.get("wall_seconds"))  # training, validation included
        label = r["label"] + (" (not run yet)" if r.get("not_run") else "")
        if r.get("test") and r["test"]["users"] < every:  # DARec is tested on a sample of users
            label += f" ({r['test']['users']:,} sampled test users)"
        lines.append(f"| {label} | {metric_columns(r.get('test'))} | {time} | {speed} |")
    lines += ["", f"Over seeds {', '.join(map(str, SEEDS))} (mean ± standard deviation):", ""]
    lines += [f"| model | {HEAD} | seeds |", "|---|---|---|---|---|"]
    for summary in payload["seeds"].values():
        lines.append(f"| {summary['label']} | {mean_spread(summary)} | {summary['seeds']} |")
    return "\n".join(lines)


def notes(payload: dict) -> str:
    fusion = next((r for r in payload["rows"] if r["cell"] == "fusion"), None)
    darec = next((r for r in payload["rows"] if r["cell"] == "darec"), None)
    parts = []
    weight = ((fusion or {}).get("fitted") or {}).get("text_weight")
    if weight is not None:
        parts.append(
            f"The fusion's text weight, chosen on validation NDCG@10 over every validation user, is "
            f"{weight:g} (score = z(SASRec) + w · z(text), each standardised per user)."
        )
    if darec and "test" in darec:
        prompts = (darec.get("settings") or {}).get("samples_per_epoch", "every")
        parts.append(
            f"DARec ran {darec.get('epochs_run', '?')} epoch(s) of {prompts:,} prompts (best epoch "
            f"{darec.get('best_epoch', '?')}, validation NDCG@10 {darec['valid']['ndcg@10']:.4f} on "
            f"{darec['valid']['users']} users; tested on {darec['test']['users']:,} sampled users)."
        )
    return " ".join(parts)


def figure(payload: dict, path: Path) -> None:
    """Bars of Recall@10 and NDCG@10; the seeded models at their mean, with the standard deviation; a cell
    not run yet has no bar."""
    rows, seeds = payload["rows"], payload["seeds"]
    values, errors = {}, {}
    for key, metric in (("Recall@10", "recall@10"), ("NDCG@10", "ndcg@10")):
        values[key] = [
            seeds[r["cell"]][metric]["mean"] if r["cell"] in seeds else r.get("test", {}).get(metric, nan)
            for r in rows
        ]
        errors[key] = [seeds[r["cell"]][metric]["std"] if r["cell"] in seeds else 0.0 for r in rows]
    labels = [seeds[r["cell"]]["label"] if r["cell"] in seeds else r["label"] for r in rows]
    grouped_bars(
        labels,
        values,
        path,
        "Main table (seeded models: mean and std over the seeds that ran)",
        "test",
        errors,
    )
