"""The main table: every model on one protocol — most popular, the text-only floor, a late fusion of
SASRec's scores with the text floor's (its weight chosen on validation), SASRec and BERT4Rec with and
without the history offset, Laser by its recipes, Lite-LLM4Rec and DARec — with SASRec, BERT4Rec and the
best Laser (the ``laserrec`` recipe) over three seeds, mean ± standard deviation. Laser of seed s reads
the SASRec of seed s, so the spread covers the whole pipeline."""

from __future__ import annotations

from pathlib import Path

from laserrec.experiments.common import HEAD, compact, duration, mean_spread, metric_columns, seed_summary
from laserrec.experiments.plots import grouped_bars
from laserrec.experiments.runner import Cell, Context

TITLE = "Main table: every model on one protocol"
SEEDS = (2020, 2021, 2022)
SEEDED = {"sasrec": "SASRec", "bert4rec": "BERT4Rec", "laser": "Laser (laserrec recipe)"}


def seeded(name: str, seed: int) -> str:
    return name if seed == SEEDS[0] else f"{name}_seed{seed}"


def cells() -> list[Cell]:
    out = [
        Cell("most_popular", "most_popular", label="most popular"),
        Cell("text_floor", "text_floor", label="text only (no training)"),
    ]
    for seed in SEEDS:
        extra = {} if seed == SEEDS[0] else {"seed": seed}
        out.append(Cell(seeded("sasrec", seed), "sasrec", extra, label=f"SASRec (seed {seed})"))
        out.append(Cell(seeded("bert4rec", seed), "bert4rec", extra, label=f"BERT4Rec (seed {seed})"))
        out.append(
            Cell(
                seeded("laser", seed), "laser", extra, cf=seeded("sasrec", seed), label=f"Laser (seed {seed})"
            )
        )
    return out + [
        Cell("fusion", "fusion", cf="sasrec", label="SASRec + text, late fusion"),
        Cell("sasrec_offset", "sasrec", {"repeat_bias": True, "repeat_init": 5.0}, label="SASRec + offset"),
        Cell("bert4rec_offset", "bert4rec", {"repeat_bias": True}, label="BERT4Rec + offset"),
        Cell(
            "laser_paper_cpu", "laser", {"recipe": "paper-cpu"}, cf="sasrec", label="Laser (paper-cpu recipe)"
        ),
        Cell("lite_llm4rec", "lite_llm4rec", label="Lite-LLM4Rec"),
        Cell("darec", "darec", cf="sasrec", label="DARec"),
    ]


ORDER = [
    "most_popular", "text_floor", "fusion", "sasrec", "sasrec_offset", "bert4rec", "bert4rec_offset",
    "laser", "laser_paper_cpu", "lite_llm4rec", "darec",
]  # fmt: skip


def run(ctx: Context) -> dict:
    results = {c.name: compact(ctx.run(c)) for c in cells()}
    seeds = {
        name: seed_summary([results[seeded(name, s)] for s in SEEDS]) | {"label": label}
        for name, label in SEEDED.items()
    }
    rows = [results[name] for name in ORDER]
    extra = [results[seeded(name, s)] for name in SEEDED for s in SEEDS[1:]]
    return {"rows": rows, "more_rows": extra, "seeds": seeds}


def table(payload: dict) -> str:
    lines = [f"| model | {HEAD} | train time | users/s |", "|---|---|---|---|---|---|"]
    for r in payload["rows"]:
        speed = f"{r['users_per_second']:,.1f}" if r.get("users_per_second") else "–"
        time = duration(r.get("wall_seconds"))
        lines.append(f"| {r['label']} | {metric_columns(r.get('test'))} | {time} | {speed} |")
    lines += ["", f"Over seeds {', '.join(map(str, SEEDS))} (mean ± standard deviation):", ""]
    lines += [f"| model | {HEAD} |", "|---|---|---|---|"]
    for summary in payload["seeds"].values():
        lines.append(f"| {summary['label']} | {mean_spread(summary)} |")
    return "\n".join(lines)


def notes(payload: dict) -> str:
    fusion = next((r for r in payload["rows"] if r["cell"] == "fusion"), None)
    darec = next((r for r in payload["rows"] if r["cell"] == "darec"), None)
    parts = []
    if fusion and "text_weight" in fusion:
        parts.append(
            f"The fusion's text weight, chosen on validation NDCG@10 over every validation user, is "
            f"{fusion['text_weight']:g} (score = z(SASRec) + w · z(text), each standardised per user)."
        )
    if darec:
        prompts = (darec.get("settings") or {}).get("samples_per_epoch", "every")
        parts.append(
            f"DARec ran {darec.get('epochs_run', '?')} epoch(s) of {prompts:,} prompts (best epoch "
            f"{darec.get('best_epoch', '?')}, validation NDCG@10 {darec['valid']['ndcg@10']:.4f} on "
            f"{darec['valid']['users']} users; tested on {darec['test']['users']:,} sampled users)."
        )
    return " ".join(parts)


def figure(payload: dict, path: Path) -> None:
    """Bars of Recall@10 and NDCG@10; the seeded models at their mean, with the standard deviation."""
    rows, seeds = payload["rows"], payload["seeds"]
    values, errors = {}, {}
    for key, metric in (("Recall@10", "recall@10"), ("NDCG@10", "ndcg@10")):
        values[key] = [
            seeds[r["cell"]][metric]["mean"] if r["cell"] in seeds else r["test"][metric] for r in rows
        ]
        errors[key] = [seeds[r["cell"]][metric]["std"] if r["cell"] in seeds else 0.0 for r in rows]
    labels = [seeds[r["cell"]]["label"] if r["cell"] in seeds else r["label"] for r in rows]
    grouped_bars(
        labels, values, path, "Main table (seeded models: mean and std over 3 seeds)", "test", errors
    )
