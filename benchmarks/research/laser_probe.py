"""How Laser's item matrix is kept in step with the weights: a short training probe on validation users.

Trains Laser for a few hundred steps and prints validation Recall/NDCG@10 and MRR (on a fixed user sample)
every ``--eval-every`` steps, under one of three ways of scoring against the item matrix:

- ``stale``   the paper: the whole matrix, re-encoded without gradient every ``--refresh`` steps
              (0 = only at the evaluations, i.e. every ``--eval-every`` steps);
- ``mixed``   the batch's target items re-encoded with gradient, every other row from the stale matrix;
- ``inbatch`` only the batch's target items, re-encoded with gradient (in-batch negatives).

``--set`` changes any Laser or training setting (e.g. ``negatives=16 cf_input=last distill=1``) and
``--recipe`` starts from a named recipe (the figures in docs/research.md: the CPU sizes, ``paper-cpu``).

    python benchmarks/research/laser_probe.py --data data/scientific --cf runs/scientific/sasrec \
        --mode stale --refresh 25 --set llm=minilm

    python benchmarks/research/laser_probe.py --data data/scientific --cf runs/sci/sasrec --empty-prompts \
        --refresh 50 --steps 600 --eval-every 200 --users 500

    python benchmarks/research/laser_probe.py --data data/ml-100k --cf runs/ml/sasrec --empty-prompts \
        --refresh 50 --steps 500 --eval-every 250 --users 943 \
        --set threads=1 negatives=16 cf_input=last [distill=1] \
        --out benchmarks/research/results/laser_probe_conduit_ml_last[_distill1].json

Results of the probe (scientific_lcrec, MiniLM) are in docs/research.md.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from laserrec.config import parse_overrides
from laserrec.data.dataset import PreparedData, leave_one_out
from laserrec.evaluation.evaluator import evaluate
from laserrec.training.loading import build_model
from laserrec.training.runs import resolve_configs
from laserrec.training.samples import SampleSet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="prepared dataset folder")
    ap.add_argument("--cf", required=True, help="run folder of the frozen SASRec/BERT4Rec")
    ap.add_argument("--mode", choices=("stale", "mixed", "inbatch"), default="stale")
    ap.add_argument("--refresh", type=int, default=0, help="stale: re-encode items every N steps")
    ap.add_argument(
        "--empty-prompts",
        action="store_true",
        help="prefix and suffix only, no text: does the collaborative signal alone get through?",
    )
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--users", type=int, default=300, help="validation users sampled (seed 0)")
    ap.add_argument("--set", nargs="*", default=[], help="Laser/training key=value overrides")
    ap.add_argument("--recipe", default=None, help="a named recipe of Laser settings (default: none)")
    ap.add_argument("--seed", type=int, default=0, help="model initialisation and sample order")
    ap.add_argument("--out", help="write the curve as JSON here")
    args = ap.parse_args()

    values = {"llm": "minilm", "cf_run": args.cf, "batch_size": "16", **parse_overrides(args.set)}
    data = PreparedData.load(args.data)
    split = leave_one_out(data)
    model_cfg, train_cfg = resolve_configs("laser", {}, values, args.recipe)
    net = build_model("laser", model_cfg, data, args.seed)
    net.show_progress = False
    if args.empty_prompts:
        net.prompts.build = lambda history: []
    valid = split.valid.sample(args.users, 0)
    curve = []

    def validate(step: int) -> None:
        start = time.perf_counter()
        net.refresh_item_matrix()
        m, _ = evaluate(net, valid, net.history_len, batch_size=64, progress=False)
        row = {"step": step, **{k: round(m[k], 4) for k in ("recall@10", "ndcg@10", "mrr")}}
        curve.append(row)
        print(json.dumps(row), f"({time.perf_counter() - start:.0f}s)", flush=True)
        if args.out:  # after every reading, so a probe stopped early keeps its curve
            with open(args.out, "w", encoding="utf-8") as f:
                json.dump({"args": vars(args), "curve": curve}, f, indent=2)

    def loss_of(batch) -> torch.Tensor:
        if args.mode == "stale":
            return net.calculate_loss(batch)[0]
        h, lb = net._encode_users(batch.history)
        items, index = torch.unique(batch.target, return_inverse=True)
        fresh = F.normalize(net.encode_items(items), dim=-1)  # with gradient
        users = F.normalize(h, dim=-1)
        if args.mode == "inbatch":
            logits, target = users @ fresh.T, index
        else:
            matrix = net.item_matrix.detach().clone().index_put((items,), fresh)
            logits, target = users @ matrix[1:].T, batch.target - 1
        loss = F.cross_entropy(logits / net.config.temperature, target)
        return loss + net.config.lb_weight * lb

    validate(0)
    net.set_phase(1)
    groups = net.param_groups(1, train_cfg.lr)
    opt = torch.optim.AdamW(groups, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    samples = SampleSet(split.train, "prefix", net.history_len, args.seed)
    net.train()
    for step, batch in samples.batches(0, train_cfg.batch_size):
        if step >= args.steps:
            break
        if args.refresh and step and step % args.refresh == 0:
            net.refresh_item_matrix()
            net.train()
        loss = loss_of(batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), train_cfg.grad_clip)
        opt.step()
        if (step + 1) % args.eval_every == 0:
            validate(step + 1)
            net.train()


if __name__ == "__main__":
    main()
