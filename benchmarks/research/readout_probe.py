"""Which read-out of an untrained Laser ranks best, and how much centring helps it (no training).

One forward per prompt of a freshly built Laser (M-Former prefix at initialisation, suffix at its start)
gives four read-outs of the last hidden states: the suffix position (Laser's), the mean over all prompt
tokens (the warm-up's target), the mean over the item lines only (the shared instruction header left
out) and the last prompt token. Each is scored on validation users against the whole catalog, raw and
after centring: users and items on their own means (what ``center=true`` does), and z-scored per
dimension on the catalog's statistics.

    python benchmarks/research/readout_probe.py --data data/scientific --cf runs/sci/sasrec --llm smollm2 \
        --users 500 --max_history=3 --max_title_tokens=16 \
        --out benchmarks/research/results/readout_smollm2.json

Writes JSON (``--out``) and prints a table; results are in docs/research.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from laserrec.config import from_dict, parse_overrides
from laserrec.data.dataset import PreparedData, leave_one_out
from laserrec.evaluation.metrics import metrics_from_ranks, target_ranks
from laserrec.models.base import pad_left
from laserrec.models.laser.config import LaserConfig
from laserrec.models.laser.inputs import PROMPT, pool
from laserrec.training.loading import build_model

READOUTS = ("suffix", "mean", "content", "last")


def readouts(model, prompts, c, mask) -> dict[str, torch.Tensor]:
    """The four (B, H) read-outs of one forward."""
    hidden, kinds, _ = model._hidden(prompts, c, mask)
    is_prompt = kinds == PROMPT
    content = (is_prompt & (is_prompt.long().cumsum(1) > len(model.prompts.header_ids))).unsqueeze(-1)
    last = is_prompt.long().cumsum(1).argmax(1)  # first position reaching the full count = last prompt token
    h = hidden.float()
    return {
        "suffix": pool(hidden, kinds, "suffix"),
        "mean": pool(hidden, kinds, "mean"),
        "content": (h * content).sum(1) / content.sum(1).clamp(min=1),
        "last": h[torch.arange(len(h)), last],
    }


def encode(model, batches) -> dict[str, torch.Tensor]:
    out: dict[str, list] = {k: [] for k in READOUTS}
    with torch.inference_mode():
        for inputs in batches:
            for k, v in readouts(model, *inputs).items():
                out[k].append(v)
    return {k: torch.cat(v) for k, v in out.items()}


def score(users: torch.Tensor, items: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    scores = F.normalize(users, dim=-1) @ F.normalize(items, dim=-1).T  # (U, n_items)
    pad = torch.full((len(scores), 1), float("-inf"))
    m = metrics_from_ranks(target_ranks(torch.cat([pad, scores], 1), targets), [10])
    return {k: round(m[k], 4) for k in ("recall@10", "ndcg@10", "mrr")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="prepared dataset folder")
    ap.add_argument("--cf", default="", help="trained SASRec/BERT4Rec run (without: a plain learned prefix)")
    ap.add_argument("--llm", default="smollm2", help="smollm2 | minilm | a folder")
    ap.add_argument("--users", type=int, default=500, help="validation users scored")
    ap.add_argument("--batch", type=int, default=32, help="prompts per forward")
    ap.add_argument("--out", default="", help="write the results here as JSON")
    args, extra = ap.parse_known_args()

    torch.manual_seed(0)
    data = PreparedData.load(args.data)
    valid = leave_one_out(data).valid.sample(args.users, 0)
    settings = {**parse_overrides(extra), "llm": args.llm, "cf_run": args.cf}
    if not args.cf:
        settings["prefix_source"] = "learned"
    model = build_model("laser", from_dict(LaserConfig, settings, "--key=value"), data, seed=0).eval()
    model.show_progress = False
    ids = torch.arange(1, data.n_items + 1)
    chunks = [ids[i : i + args.batch] for i in range(0, len(ids), args.batch)]
    items = encode(model, (model._item_inputs(c) for c in tqdm(chunks, desc="items")))
    hist, rows = valid.histories, range(0, len(valid.histories), args.batch)
    users = encode(
        model, (model._user_inputs(pad_left(hist[i : i + args.batch], model.history_len)) for i in tqdm(rows))
    )
    targets = torch.as_tensor(valid.targets)

    results = {"llm": args.llm, "users": len(targets), "settings": settings, "readouts": {}}
    print("| read-out | scoring | Recall@10 | NDCG@10 | MRR | item-item cosine |\n|---|---|---|---|---|---|")
    for k in READOUTS:
        u, m = users[k], items[k]
        mu, sd = m.mean(0), m.std(0) + 1e-6
        unit = F.normalize(m[torch.randperm(len(m))[:1000]], dim=-1)
        cos = unit @ unit.T
        variants = {
            "raw": score(u, m, targets),
            "each side centred on its own mean": score(u - u.mean(0), m - mu, targets),
            "z-scored on catalog statistics": score((u - mu) / sd, (m - mu) / sd, targets),
        }
        results["readouts"][k] = {
            "item_item_cosine": round(cos[~torch.eye(len(cos), dtype=bool)].mean().item(), 3)
        }
        for name, r in variants.items():
            results["readouts"][k][name] = r
            print(
                f"| {k} | {name} | {r['recall@10']} | {r['ndcg@10']} | {r['mrr']} | "
                f"{results['readouts'][k]['item_item_cosine']} |"
            )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
