"""Where a trained model spends its top ranks: on items the user already has, or on new ones.

On both datasets here the next item is never one the user already has (a property of the data, checked
and printed below), yet the evaluation protocol ranks every item, history included (by default, as
the Laser/RecFormer protocol does). A model that puts the user's newest item first, as the text of a one-item
prompt invites and as SASRec does for most Scientific users, loses NDCG@10 and MRR at rank 1. For each run
this scores the test users once and reports the protocol's metrics, the same scores with the history
masked (``laserrec evaluate --mask-seen`` gives the same figures), and how often the top ranks hold
history items.

    python benchmarks/research/seen_items.py runs/sci/sasrec runs/sci/laser-h1-heldout-distill1 \
        --out benchmarks/research/results/seen_items_scientific.json

Writes JSON (``--out``) and prints a table; figures are in docs/research.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from laserrec.data.dataset import leave_one_out
from laserrec.evaluation.metrics import mask_history, metrics_from_ranks, target_ranks
from laserrec.models.base import Batch, pad_left
from laserrec.training.loading import load_run

METRICS = ("recall@10", "ndcg@10", "mrr")


@torch.inference_mode()
def seen_stats(run: str, n_users: int, batch_size: int) -> dict:
    model, data, _, _ = load_run(run)
    users = leave_one_out(data).test
    users = users.sample(n_users, 0) if n_users else users
    model.eval()
    model.prepare_for_eval()
    order = np.argsort([len(h) for h in users.histories], kind="stable")  # short prompts batched together
    plain, masked, counts = [], [], {"top1_newest": 0, "top1_seen": 0, "seen_in_top10": 0, "target_seen": 0}
    for lo in tqdm(range(0, len(order), batch_size), desc=Path(run).name, leave=False):
        idx = order[lo : lo + batch_size]
        hist = [users.histories[i] for i in idx]
        targets = torch.from_numpy(users.targets[idx])
        seen = pad_left(hist, max(len(h) for h in hist))  # (B, T): the whole history
        scores = model.full_sort_predict(Batch(pad_left(hist, model.history_len), targets)).float()
        scores[:, 0] = float("-inf")
        plain.append(target_ranks(scores, targets))
        masked.append(target_ranks(mask_history(scores, seen, targets), targets))
        top = scores.topk(10, dim=-1).indices  # (B, 10)
        in_history = (top[:, :, None] == seen[:, None, :]).any(-1)  # (B, 10)
        counts["top1_newest"] += int((top[:, 0] == seen[:, -1]).sum())
        counts["top1_seen"] += int(in_history[:, 0].sum())
        counts["seen_in_top10"] += int(in_history.sum())
        counts["target_seen"] += int((targets[:, None] == seen).any(-1).sum())
    pick = lambda ranks: {k: round(v, 4) for k, v in metrics_from_ranks(torch.cat(ranks), [10]).items()}  # noqa: E731
    n = len(users)
    return {
        "run": run,
        "users": n,
        "metrics": pick(plain),
        "metrics_history_masked": pick(masked),
        "top1_is_newest_history_item": round(counts["top1_newest"] / n, 4),
        "top1_in_history": round(counts["top1_seen"] / n, 4),
        "history_items_in_top10": round(counts["seen_in_top10"] / n, 3),
        "targets_in_history": round(counts["target_seen"] / n, 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run folders written by `laserrec train`")
    ap.add_argument(
        "--users", type=int, default=0, help="a fixed random sample of this many test users (0 = all)"
    )
    ap.add_argument("--batch-size", type=int, default=256, help="users per scoring batch")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    ap.add_argument("--out", default="", help="write the results here as JSON")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    print(
        "| run | R@10 / N@10 / MRR | history masked | top-1 = newest history item | top-1 in history "
        "| history items in top 10 | targets in history |\n|---|---|---|---|---|---|---|"
    )
    for run in args.runs:
        row = seen_stats(run, args.users, args.batch_size)
        rows.append(row)
        fmt = lambda m: " / ".join(f"{m[k]:.4f}" for k in METRICS)  # noqa: E731
        print(
            f"| {run} | {fmt(row['metrics'])} | {fmt(row['metrics_history_masked'])} | "
            f"{row['top1_is_newest_history_item']:.1%} | {row['top1_in_history']:.1%} | "
            f"{row['history_items_in_top10']:.2f} | {row['targets_in_history']:.1%} |",
            flush=True,
        )
        if args.out:  # after every run, so a stopped script keeps what it measured
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps({"results": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
