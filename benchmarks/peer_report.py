"""The outputs of ``recbole_peer.py``: its table, the mean ± standard deviation over seeds, and the JSON
written so that a run stopped part-way leaves a whole file (standard library only)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path


def over_seeds(by_seed: dict, models) -> dict:
    """Mean, sample standard deviation and count of each side's test metrics over the seeds that ran."""
    out: dict = {}
    for model in models:
        for side in ("recbole", "ours"):
            runs = [r[model][side] for r in by_seed.values() if model in r and "error" not in r[model][side]]
            if not runs:
                continue
            out.setdefault(model, {})[side] = {
                key: {
                    "mean": round(statistics.fmean(x["test"][key] for x in runs), 5),
                    "std": round(statistics.stdev(x["test"][key] for x in runs), 5) if len(runs) > 1 else 0.0,
                    "n": len(runs),
                }
                for key in ("recall@10", "ndcg@10", "mrr@10")
            }
    return out


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def table(r: dict, models) -> str:
    lines = [
        "| model | side | epochs (best) | s/epoch | s/valid pass | fit s | R@10 | N@10 | MRR@10 | RSS GB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model in models:
        for side in ("recbole", "ours"):
            x = r.get(model, {}).get(side)
            if x is None:
                continue
            if "error" in x:
                lines.append(f"| {model} | {side} | error: {x['error']} |||||||||")
                continue
            t = x["test"]
            lines.append(
                f"| {model} | {side} | {x['epochs_run']} ({x['best_epoch']}) | {x['epoch_seconds_median']} | "
                f"{x['valid_seconds_median']} | {x['fit_seconds']} | {t['recall@10']:.4f} | "
                f"{t['ndcg@10']:.4f} | {t['mrr@10']:.4f} | {x['peak_rss_gb']} |"
            )
    for model in models:
        if model in r:
            capped = r.get(f"{model}_train_ratio_is_upper_bound")
            bound = " (an upper bound: RecBole stopped by the time cap)" if capped else ""
            lines.append(
                f"\n{model}: train time ours/RecBole {r[f'{model}_train_ratio_vs_recbole']}{bound} "
                f"({r['mode']}), "
                f"valid pass ours/RecBole {r[f'{model}_eval_ratio_vs_recbole']}"
            )
    if "over_seeds" in r:
        lines += [
            f"\nOver seeds {', '.join(map(str, r['seeds']))} (test, mean ± standard deviation):\n",
            "| model | side | R@10 | N@10 | MRR@10 | seeds |",
            "|---|---|---|---|---|---|",
        ]
        for model, sides in r["over_seeds"].items():
            for side, m in sides.items():
                keys = ("recall@10", "ndcg@10", "mrr@10")
                cells = [f"{m[k]['mean']:.4f} ± {m[k]['std']:.4f}" for k in keys]
                lines.append(f"| {model} | {side} | {' | '.join(cells)} | {m['recall@10']['n']} |")
    return "\n".join(lines)
