"""How far a model that adds text to the frozen ID model can go on a dataset, before any LLM is trained.

Laser ranks by the cosine between a user and an item embedding that carry both the item text (through the
frozen LLM) and the collaborative signal (through M-Former). This probe scores every validation and test
user with no training at all, from two cached signals:

- text: the frozen all-MiniLM-L6-v2 mean-pooled embedding of each item line (title, brand, category);
  a user is the recency-weighted mean (0.5 ** age) of the history's item embeddings (the text-only floor),
  or only the newest item's embedding (``text_newest``: what a one-item Laser prompt reads);
- cf: the frozen SASRec/BERT4Rec run, by its own dot product and by the cosine of the same vectors
  (the cosine drops the vector norms, where a dot-product model keeps item popularity);

and their fusion: each user's scores standardised over the catalog (z-scores), then
``z(text) + beta * z(cf)`` for a few beta. The best fusion is a ceiling of sorts for what these two signals
give together without training; the cosine rows show what scoring by cosine alone costs the ID model.

    python benchmarks/research/fusion_ceiling.py --data data/scientific --cf runs/sci/sasrec \
        --out benchmarks/research/results/fusion_ceiling_scientific.json

Writes JSON (``--out``) and prints a table; figures are in docs/research.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from laserrec.data.dataset import EvalSet, PreparedData, leave_one_out
from laserrec.evaluation.metrics import metrics_from_ranks, target_ranks
from laserrec.llm.backbone import shared_backbone
from laserrec.models.base import pad_left
from laserrec.models.fusion.model import standardised
from laserrec.models.text.model import encode_lines, item_line, recency_users
from laserrec.training.loading import load_frozen_cf

METRICS = ("recall@10", "ndcg@10", "mrr")
BETAS = (0.5, 1.0, 2.0, 4.0)


def item_text_embeddings(data: PreparedData) -> torch.Tensor:
    """The text model's catalog (``models/text``, all-MiniLM-L6-v2 in fp32). Output: (n_items + 1, 384),
    row 0 zero."""
    lines = [item_line(t) for t in data.items[1:]]
    rows = encode_lines(shared_backbone("minilm", "fp32"), lines, max_tokens=128, batch_size=128)
    return torch.cat([rows.new_zeros(1, rows.shape[1]), rows])


@torch.inference_mode()
def signal_scores(users: EvalSet, text: torch.Tensor, cf, window: int = 50) -> dict[str, torch.Tensor]:
    """Scores of every item (U, n_items + 1) per signal: text, text of the newest item alone, cf dot
    product, cf cosine."""
    hist = pad_left(users.histories, window)  # (U, W)
    user_text = recency_users(hist, text, window, 0.5)  # (U, H)
    states = torch.cat([cf.sequence_states(hist[lo : lo + 512])[:, -1] for lo in range(0, len(hist), 512)])
    items = cf.item_states(torch.arange(text.shape[0]))[:, 0]  # (n_items + 1, d)
    return {
        "text": user_text @ text.T,
        "text_newest": text[hist[:, -1]] @ text.T,
        "cf_dot": states @ items.T,
        "cf_cos": F.normalize(states, dim=-1) @ F.normalize(items, dim=-1).T,
    }


def metrics_of(scores: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    scores = scores.clone()
    scores[:, 0] = float("-inf")  # padding is never ranked
    found = metrics_from_ranks(target_ranks(scores, targets), [10])
    return {k: round(found[k], 4) for k in METRICS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="prepared dataset folder")
    ap.add_argument("--cf", required=True, help="run folder of a trained SASRec/BERT4Rec")
    ap.add_argument("--out", default="", help="write the results here as JSON")
    args = ap.parse_args()

    data = PreparedData.load(args.data)
    split = leave_one_out(data)
    text, cf = item_text_embeddings(data), load_frozen_cf(args.cf, data)
    results: dict[str, dict] = {}
    print(f"| split | scores | {' | '.join(METRICS)} |\n|---|---|{'---|' * len(METRICS)}")
    for name in ("valid", "test"):
        users = split.eval_set(name)
        targets = torch.from_numpy(users.targets)
        signals = signal_scores(users, text, cf)
        rows, z_text = dict(signals), standardised(signals["text"])
        for cf_kind in ("cf_dot", "cf_cos"):
            for beta in BETAS:
                rows[f"z(text) + {beta:g} z({cf_kind})"] = z_text + beta * standardised(signals[cf_kind])
        for label, scores in rows.items():
            results.setdefault(name, {})[label] = metrics_of(scores, targets)
            print(f"| {name} | {label} | {' | '.join(f'{v:.4f}' for v in results[name][label].values())} |")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        payload = {"data": str(args.data), "cf": str(args.cf), "users": len(split.test), "results": results}
        Path(args.out).write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
