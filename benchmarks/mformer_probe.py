"""Can M-Former alone carry the frozen ID model's ranking? A probe without the LLM.

Users and items are encoded by M-Former only (the CPU preset's sizes; output width 384, MiniLM's) from the
frozen SASRec/BERT4Rec states, the embedding is the mean of the prefix vectors, and the loss is Laser's
cosine / tau cross-entropy against the batch's targets plus ``--negatives`` sampled items. Validation
Recall/NDCG@10 (full ranking, fixed user sample) every ``--eval-every`` steps, for each learning-rate scale
of M-Former's inside (queries, blocks, router, memory projection; the output projection keeps the lr):

    python benchmarks/mformer_probe.py --data data/scientific --cf runs/sci/sasrec --lr-scales 1 0.1 \
        --out benchmarks/results/mformer_probe.json

The first rows print the ID model's own ranking (dot product and cosine) for comparison.
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F

from laserrec.data.dataset import PreparedData, leave_one_out
from laserrec.evaluation.evaluator import pad_left
from laserrec.evaluation.metrics import metrics_from_ranks, target_ranks
from laserrec.models.laser.config import LaserConfig
from laserrec.models.laser.mformer import MFormer
from laserrec.training.runs import load_frozen_cf


def ranking(users: torch.Tensor, items: torch.Tensor, targets: torch.Tensor, cosine: bool = True) -> dict:
    """Input: users (U, d), items (n_items, d) for ids 1..n, targets (U,). Output: Recall/NDCG@10."""
    if cosine:
        users, items = F.normalize(users, dim=-1), F.normalize(items, dim=-1)
    scores = torch.cat([torch.full((len(users), 1), float("-inf")), users @ items.T], 1)
    m = metrics_from_ranks(target_ranks(scores, targets), [10])
    return {k: round(m[k], 4) for k in ("recall@10", "ndcg@10")}


def embed(net: MFormer, c: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """C (B, N, d_c) -> the mean of M-Former's prefix vectors (B, 384); no mask = every position real."""
    mask = torch.ones(c.shape[:2], dtype=torch.bool) if mask is None else mask
    return net(c, mask)[0].mean(1)


def validate(net: MFormer, item_c, c_valid, m_valid, y_valid) -> dict:
    """Validation Recall/NDCG@10 of users encoded from c_valid against every item encoded from item_c."""
    net.eval()
    with torch.no_grad():
        items = torch.cat([embed(net, item_c[i : i + 512]) for i in range(0, len(item_c), 512)])
        result = ranking(embed(net, c_valid, m_valid), items, y_valid)
    net.train()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="prepared dataset folder")
    ap.add_argument("--cf", required=True, help="run folder of the frozen SASRec/BERT4Rec")
    ap.add_argument("--lr-scales", type=float, nargs="+", default=[1.0, 0.1])
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--negatives", type=int, default=1000, help="sampled items scored besides the targets")
    ap.add_argument("--users", type=int, default=1000, help="validation users sampled (seed 0)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="write the curves as JSON here")
    args = ap.parse_args()

    data = PreparedData.load(args.data)
    split = leave_one_out(data)
    cf = load_frozen_cf(args.cf, data).eval()
    cfg = LaserConfig()
    keep, max_len = cfg.max_history, cf.config.max_len

    def states(histories) -> tuple[torch.Tensor, torch.Tensor]:
        """C (U, keep, d_c) and its mask for the last `keep` positions of each history."""
        cs, masks = [], []
        with torch.no_grad():
            for i in range(0, len(histories), 512):
                h = pad_left(histories[i : i + 512], max_len)
                cs.append(cf.sequence_states(h)[:, -keep:].float())
                masks.append((h > 0)[:, -keep:])
        return torch.cat(cs), torch.cat(masks)

    pairs = [(s[:t], int(s[t])) for s in split.train for t in range(1, len(s))]
    c_train, m_train = states([p[0] for p in pairs])
    y_train = torch.tensor([p[1] for p in pairs])
    valid = split.valid.sample(args.users, 0)
    c_valid, m_valid = states(valid.histories)
    y_valid = torch.as_tensor(valid.targets)
    with torch.no_grad():
        item_c = cf.item_states(torch.arange(1, data.n_items + 1)).float()  # (n, 1, d_c)

    reference = {
        "id model, dot": ranking(c_valid[:, -1], item_c[:, 0], y_valid, cosine=False),
        "id model, cosine": ranking(c_valid[:, -1], item_c[:, 0], y_valid),
    }
    print(
        f"{len(pairs):,} training steps, {len(valid)} validation users; "
        + "; ".join(f"{k}: NDCG@10 {v['ndcg@10']:.4f}" for k, v in reference.items())
    )
    curves = {}
    for scale in args.lr_scales:
        torch.manual_seed(args.seed)
        k, top = cfg.experts
        net = MFormer(
            item_c.shape[-1], 384, k, cfg.n_prefix, top, cfg.n_blocks, cfg.d_model, cfg.n_heads, cfg.dropout
        )
        opt = torch.optim.AdamW(
            [{"params": net.to_llm.parameters()}, {"params": net.inner_parameters(), "lr": args.lr * scale}],
            lr=args.lr,
        )
        gen = torch.Generator().manual_seed(args.seed)
        curve = [{"step": 0, **validate(net, item_c, c_valid, m_valid, y_valid)}]
        for step in range(1, args.steps + 1):
            b = torch.randint(0, len(pairs), (args.batch_size,), generator=gen)
            negatives = torch.randint(0, len(item_c), (args.negatives,), generator=gen)
            rows, column = torch.cat([y_train[b] - 1, negatives]).unique(return_inverse=True)
            users = F.normalize(embed(net, c_train[b], m_train[b]), dim=-1)
            items = F.normalize(embed(net, item_c[rows]), dim=-1)
            loss = F.cross_entropy(users @ items.T / cfg.temperature, column[: args.batch_size])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % args.eval_every == 0:
                curve.append({"step": step, **validate(net, item_c, c_valid, m_valid, y_valid)})
                print(f"lr scale {scale:g}  step {step:4d}  NDCG@10 {curve[-1]['ndcg@10']:.4f}", flush=True)
        curves[f"{scale:g}"] = curve

    steps = [row["step"] for row in next(iter(curves.values()))]
    print("\nvalidation NDCG@10 by step\n| lr scale | " + " | ".join(map(str, steps)) + " |")
    print("|---" * (len(steps) + 1) + "|")
    for scale, curve in curves.items():
        print(f"| {scale} | " + " | ".join(f"{row['ndcg@10']:.4f}" for row in curve) + " |")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"args": vars(args), "reference": reference, "curves": curves}, f, indent=2)


if __name__ == "__main__":
    main()
