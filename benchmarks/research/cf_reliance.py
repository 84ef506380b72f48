"""How much a Laser run's ranking rests on the collaborative states M-Former reads.

Each run's best checkpoint scores a fixed sample of validation users (the one training validates on) twice:
with the frozen ID model's true states, and with the states shuffled — every item prompt gets another
item's state (one fixed permutation of the catalog, the item matrix re-encoded) and every user prompt
another user's (a permutation within each evaluation batch). The prompts' text is unchanged, so the drop
is what the states carry through the prefix; an untrained M-Former (the warm-up's checkpoint) is a random
projection of the states, and this measures whether that already carries signal.

    python benchmarks/research/cf_reliance.py --runs runs/sci/laser-minilm-neg16-last-h1 \
        runs/ml/laser-minilm-neg16-last-h2 --users 1000 --out benchmarks/research/results/cf_reliance.json

Writes JSON (``--out``) and prints a table; figures are in docs/research.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from laserrec.data.dataset import leave_one_out
from laserrec.evaluation.evaluator import evaluate
from laserrec.training.loading import load_run

METRICS = ("recall@10", "ndcg@10", "mrr")


def shuffle_states(cf, n_items: int, seed: int = 0) -> None:
    """Replace the frozen ID model's state functions (on this instance) by shuffled ones."""
    gen = torch.Generator().manual_seed(seed)
    perm = torch.cat([torch.zeros(1, dtype=torch.long), torch.randperm(n_items, generator=gen) + 1])
    sequence_states, item_states = cf.sequence_states, cf.item_states

    def other_users(history: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, T, d), rows of other users
        states = sequence_states(history)
        return states[torch.randperm(len(states), generator=gen)]

    cf.sequence_states = other_users
    cf.item_states = lambda ids: item_states(perm[ids])  # (B,) -> (B, 1, d) of other items


def measure(run: str, users: int) -> dict[str, dict[str, float]]:
    net, data, cfg, run_config = load_run(run)
    if run_config["model"] != "laser" or net.mformer is None:
        raise SystemExit(f"{run}: not a Laser run with an M-Former prefix")
    valid = leave_one_out(data).valid.sample(users, cfg.seed)

    def scored() -> dict[str, float]:
        found, _ = evaluate(net, valid, net.history_len, (10,), cfg.eval_batch_size, False, True)
        return {k: round(found[k], 4) for k in METRICS}

    true = scored()
    shuffle_states(net.cf, data.n_items)
    net.refresh_item_matrix()
    return {"true states": true, "shuffled states": scored()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="+", required=True, help="Laser run folders (their best checkpoint)")
    ap.add_argument("--users", type=int, default=1000, help="validation users (0 = all)")
    ap.add_argument("--out", default="", help="write the results here as JSON")
    args = ap.parse_args()

    results = {}
    for run in args.runs:
        results[run] = measure(run, args.users)  # on the threads each run was trained with
    print(f"| run | states | {' | '.join(METRICS)} |\n|---|---|{'---|' * len(METRICS)}")
    for run, rows in results.items():
        for label, values in rows.items():
            print(f"| {run} | {label} | {' | '.join(f'{v:.4f}' for v in values.values())} |")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"users": args.users, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
