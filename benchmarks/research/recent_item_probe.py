"""Does a trained model use the user's most recent interaction? Why Laser's validation overstates its test.

Leave-one-out gives each user a validation step (history h, target v) and a test step (history h + v,
target t). Scoring the *test* target from the *validation* history (two steps ahead) separates the two
ways the splits differ: the target moves one step later (row 2 vs row 1) and the history gains the
validation item, the most recent interaction (row 3 vs row 2). A sequential model should gain in the
second step; a model that does not read its latest item will not.

    python benchmarks/research/recent_item_probe.py --runs runs/ml/sasrec runs/ml/laser-minilm \
        --out benchmarks/research/results/recent_item_ml-100k.json [--users 2000]

Each run is scored at its best checkpoint on the same users (``--users``: a fixed sample; 0 = all).
Writes JSON (``--out``) and prints a table; results are in docs/research.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from laserrec.data.dataset import EvalSet, leave_one_out
from laserrec.evaluation.evaluator import evaluate
from laserrec.training.loading import load_run

METRICS = ("recall@10", "ndcg@10", "mrr")


def three_steps(valid: EvalSet, test: EvalSet) -> dict[str, EvalSet]:
    """The validation step, the test target from the validation history, and the test step."""
    if not (valid.users == test.users).all():
        raise ValueError("validation and test sets must hold the same users in the same order")
    return {
        "valid history -> valid target": valid,
        "valid history -> test target": EvalSet(valid.users, valid.histories, test.targets),
        "test history (+ valid item) -> test target": test,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", required=True, nargs="+", help="run folders written by `laserrec train`")
    ap.add_argument("--users", type=int, default=0, help="a fixed sample of this many users (0 = all)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the user sample")
    ap.add_argument("--out", default="", help="write the results here as JSON")
    args = ap.parse_args()

    results = {}
    print(f"| run | users scored on | {' | '.join(METRICS)} | users |\n|---|---|{'---|' * len(METRICS)}---|")
    for run in args.runs:
        net, data, train_cfg, _ = load_run(run)
        split = leave_one_out(data)
        valid, test = (s.sample(args.users, args.seed) for s in (split.valid, split.test))
        for name, users in three_steps(valid, test).items():
            metrics, _ = evaluate(
                net, users, net.history_len, batch_size=train_cfg.eval_batch_size, progress=False
            )
            results.setdefault(run, {})[name] = {k: round(metrics[k], 4) for k in (*METRICS, "users")}
            row = " | ".join(f"{metrics[k]:.4f}" for k in METRICS)
            print(f"| {run} | {name} | {row} | {metrics['users']} |", flush=True)
        before, after = (results[run][k]["ndcg@10"] for k in list(results[run])[1:])
        results[run]["ndcg@10_gain_from_recent_item"] = round(after / max(before, 1e-12), 3)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"users": args.users, "runs": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
