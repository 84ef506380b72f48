"""Pieces every experiment's table shares: compact rows, metric columns, mean ± spread over seeds."""

from __future__ import annotations

import statistics

METRICS = ("recall@10", "ndcg@10", "mrr")
HEAD = "Recall@10 | NDCG@10 | MRR"


def compact(row: dict) -> dict:
    """What results.json keeps of a cell's result: metrics at 10, MRR, users, times, speed."""
    keep = {k: row[k] for k in ("cell", "label", "model", "recipe", "fitted", "cf", "not_run") if k in row}
    for split in ("valid", "test"):
        if split in row:
            keep[split] = {k: round(row[split][k], 5) for k in METRICS if k in row[split]}
            keep[split]["users"] = row[split].get("users")
    for key in (
        "train_seconds",
        "fit_wall_seconds",
        "wall_seconds",
        "epochs_run",
        "best_epoch",
        "stopped_by",
    ):
        if row.get(key) is not None:
            keep[key] = row[key]
    speed = (row.get("inference") or {}).get("users_per_second")
    if speed is not None:
        keep["users_per_second"] = speed
    if "settings" in row:
        keep["settings"] = {k: v for k, v in row["settings"].items() if v is not None}
    return keep


def metric_columns(metrics: dict | None) -> str:
    if not metrics:
        return " | ".join("–" for _ in METRICS)
    return " | ".join(f"{metrics[k]:.4f}" if k in metrics else "–" for k in METRICS)


def seed_summary(rows: list[dict], split: str = "test") -> dict:
    """Mean, sample standard deviation, min and max of each metric over seeded runs of one model."""
    out: dict = {"seeds": len(rows)}
    for k in METRICS:
        values = [r[split][k] for r in rows]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        out[k] = {"mean": sum(values) / len(values), "std": spread, "min": min(values), "max": max(values)}
    return out


def mean_spread(summary: dict) -> str:
    """``mean ± std`` per metric; one seed has no spread to show."""
    if summary["seeds"] == 1:
        return " | ".join(f"{summary[k]['mean']:.4f}" for k in METRICS)
    return " | ".join(f"{summary[k]['mean']:.4f} ± {summary[k]['std']:.4f}" for k in METRICS)


def duration(seconds: float | None) -> str:
    if not seconds:
        return "–"
    h, rest = divmod(int(round(seconds)), 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")
