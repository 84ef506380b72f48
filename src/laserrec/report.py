"""Results a person can read: one markdown table of test metrics and wall time per model."""

from __future__ import annotations


def metrics_table(rows: list[dict], split: str = "test") -> str:
    """Rows are metrics.json dicts (``{"model", split: {...}, "train_seconds"}``)."""
    lines = [
        f"| model | {split} Recall@10 | NDCG@10 | MRR | users | history masked | train time "
        "| users/s | items/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    nan = float("nan")
    for r in rows:
        m = r.get(split, {})
        seconds = r.get("wall_seconds", r.get("train_seconds"))
        lines.append(
            f"| {r.get('label', r['model'])} | {m.get('recall@10', nan):.4f} | {m.get('ndcg@10', nan):.4f} | "
            f"{m.get('mrr', nan):.4f} | {m.get('users', '-')} | {'yes' if m.get('mask_seen') else 'no'} | "
            f"{_duration(seconds)} | {_speed(r, 'users_per_second')} | {_speed(r, 'items_per_second')} |"
        )
    return "\n".join(lines)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def _speed(row: dict, key: str) -> str:
    value = row.get("inference", {}).get(key)
    if value is None:
        return "lookup" if key == "items_per_second" and "inference" in row else "-"
    return f"{value:,.1f}"
