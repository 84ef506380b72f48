"""How much the frozen ID model has memorised its training targets: the states M-Former reads are far more
predictive on Laser's training samples than on validation or test users.

Laser trains on (history prefix, next item) pairs from the training sequences — the very pairs the frozen
SASRec/BERT4Rec was fitted to. This probe scores each user's *last training target* (history = the
training items before it) with the ID model itself and compares it with the validation target (never a
training label), so a gap shows how much the collaborative input over-promises during Laser's training.

    python benchmarks/research/cf_memorization.py --data data/scientific \
        --cf runs/scientific/sasrec runs/scientific/bert4rec

Writes JSON (``--out``) and prints a table; results are in docs/research.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from laserrec.data.dataset import EvalSet, PreparedData, leave_one_out
from laserrec.evaluation.evaluator import evaluate
from laserrec.training.loading import load_frozen_cf

METRICS = ("recall@10", "ndcg@10", "mrr")


def last_training_step(train: list[np.ndarray]) -> EvalSet:
    """Each user's last training item as the target, the training items before it as the history."""
    users = [u for u, seq in enumerate(train) if len(seq) >= 2]
    return EvalSet(np.array(users), [train[u][:-1] for u in users], np.array([train[u][-1] for u in users]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="prepared dataset folder")
    ap.add_argument("--cf", required=True, nargs="+", help="run folders of trained SASRec/BERT4Rec models")
    ap.add_argument("--out", default="", help="write the results here as JSON")
    args = ap.parse_args()

    data = PreparedData.load(args.data)
    split = leave_one_out(data)
    train_step = last_training_step(split.train)
    results = {}
    print(f"| ID model run | targets | {' | '.join(METRICS)} | users |\n|---|---|{'---|' * len(METRICS)}---|")
    for run in args.cf:
        cf = load_frozen_cf(run, data)
        for name, users in (("last training step", train_step), ("validation", split.valid)):
            metrics, _ = evaluate(cf, users, cf.history_len, batch_size=512, progress=False)
            results.setdefault(run, {})[name] = {k: round(metrics[k], 4) for k in (*METRICS, "users")}
            row = " | ".join(f"{metrics[k]:.4f}" for k in METRICS)
            print(f"| {run} | {name} | {row} | {metrics['users']} |")
        train, valid = (results[run][k]["ndcg@10"] for k in ("last training step", "validation"))
        results[run]["ndcg@10_train_over_valid"] = round(train / max(valid, 1e-12), 2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"data": str(args.data), "runs": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
