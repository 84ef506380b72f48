"""What the frozen LLM's dtype does to a trained Laser at scoring time: one checkpoint in bf16 and in fp32.

A machine with native bf16 runs Laser's frozen LLM in bf16 (``dtype=auto``), about twice as fast as fp32.
SmolLM2's read-outs share large components (item-item cosine ~0.98) and ``center=true`` scores the small
remainder, where bf16's 8-bit mantissa may cost ranking. This loads one run's best checkpoint twice, with
the LLM in each dtype, scores a fixed sample of users against the whole catalog (full ranking, the
protocol's metrics) and compares the two sets of embeddings.

    python benchmarks/research/dtype_probe.py runs/sci/laser-smollm2-repeat --users 1000 \
        --out benchmarks/research/results/dtype_probe_smollm2.json

Writes JSON (``--out``) and prints a table; figures are in docs/research.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from laserrec.data.dataset import leave_one_out
from laserrec.evaluation.evaluator import evaluate
from laserrec.training.loading import load_run

METRICS = ("recall@10", "ndcg@10", "mrr")


def scored_in(run: Path, dtype: str, split: str, n_users: int) -> tuple[dict, torch.Tensor, float]:
    """(metrics, item matrix as scored, seconds: items and users encoded) of ``run``'s best checkpoint with
    the LLM in ``dtype``."""
    net, data, _, _ = load_run(run, model_overrides={"dtype": dtype})
    users = leave_one_out(data).eval_set(split).sample(n_users, 0)
    start = time.perf_counter()
    net.refresh_item_matrix()  # the checkpoint holds the matrix encoded in training's dtype: re-encode it
    metrics, _ = evaluate(net, users, net.history_len, (10,), 256, False, True)
    return metrics, net.catalog_embeddings()[1:].float(), time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a Laser run folder written by `laserrec train`")
    ap.add_argument("--users", type=int, default=1000, help="a fixed random sample of users (0 = all)")
    ap.add_argument("--split", default="test", choices=("valid", "test"))
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    ap.add_argument("--out", default="", help="write the results here as JSON")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows, items = {}, {}
    for dtype in ("bf16", "fp32"):
        metrics, items[dtype], seconds = scored_in(Path(args.run), dtype, args.split, args.users)
        rows[dtype] = {"metrics": {k: round(metrics[k], 4) for k in METRICS}, "seconds": round(seconds, 1)}
    agreement = F.cosine_similarity(items["bf16"], items["fp32"], dim=-1)
    cosine = {"mean": round(agreement.mean().item(), 4), "min": round(agreement.min().item(), 4)}
    result = {
        "run": args.run,
        "split": args.split,
        "users": metrics["users"],
        "dtypes": rows,
        "item_rows_cosine_bf16_fp32": cosine,
    }
    print("| LLM dtype | R@10 | N@10 | MRR | scoring time |\n|---|---|---|---|---|")
    for dtype, row in rows.items():
        m = row["metrics"]
        print(
            f"| {dtype} | {m['recall@10']:.4f} | {m['ndcg@10']:.4f} | {m['mrr']:.4f} "
            f"| {row['seconds']:.0f}s |"
        )
    print(f"item rows as scored, cosine bf16 vs fp32: mean {cosine['mean']}, min {cosine['min']}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
