"""Recommending items no model was trained on: hide a share of the catalog with all its interactions,
train on the rest (the ID model too), add the hidden items back by their text, and rank.

    python benchmarks/new_items.py --data data/scientific --share 0.1 --seed 0 --out runs/new-items \
        --json benchmarks/results/new_items_scientific.json

Trains into OUT (finished runs are reused, interrupted ones resumed): SASRec; Laser (its default recipe
with the main job's step budget, one history item, held-out steps, as the Scientific recipe); Lite-LLM4Rec
(its cpu recipe, 5 epochs); the text-only floor (`text`) and the late fusion of SASRec with it (`fusion`),
neither with a gradient step. Then `add_items` puts the hidden items into every run but SASRec's, and
every test user of the full dataset is ranked against the whole catalog (history not masked): Recall@10
and NDCG@10 for users whose target is a hidden item and for users whose target is a seen one, beside
SASRec (which has no vector for a hidden item, so it cannot rank one).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import laserrec
from laserrec.data.dataset import PreparedData, leave_one_out
from laserrec.data.hide import hide_items
from laserrec.pipeline import run_or_reuse

LASER = {
    "warmup_epochs": 2,
    "phase1_epochs": 4,
    "phase2_epochs": 1,
    "min_epochs": 0,
    "valid_users": 300,
    "max_history": 1,
    "history_negatives": 1,
    "train_on": "heldout",
}


def visible_dataset(data: PreparedData, share: float, seed: int, out: Path) -> tuple[Path, list[dict]]:
    folder = out / "data-visible"
    visible, hidden = hide_items(data, share, seed)
    if not (folder / "meta.json").exists():
        visible.save(folder)
    return folder, hidden


def metrics(ranked: list[list[str]], targets: list[str]) -> dict:
    hits = [r.index(t) if t in r else None for r, t in zip(ranked, targets, strict=True)]
    n = max(1, len(hits))
    return {
        "users": len(hits),
        "recall@10": round(sum(h is not None for h in hits) / n, 4),
        "ndcg@10": round(sum(1 / math.log2(h + 2) for h in hits if h is not None) / n, 4),
    }


def by_group(ranked: list[list[str]], targets: list[str], groups: dict[str, list[bool]]) -> dict:
    return {
        g: metrics(
            [r for r, m in zip(ranked, mask, strict=True) if m],
            [t for t, m in zip(targets, mask, strict=True) if m],
        )
        for g, mask in groups.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="the full prepared dataset")
    parser.add_argument("--share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="folder for the runs")
    parser.add_argument("--json", type=Path, required=True, help="where to write the figures")
    args = parser.parse_args()
    start = time.perf_counter()
    full = PreparedData.load(args.data)
    data_dir, hidden = visible_dataset(full, args.share, args.seed, args.out)
    hidden_ids = {r["item"] for r in hidden}
    run_or_reuse("sasrec", data_dir, args.out / "sasrec", {}, progress=False)
    run_or_reuse(
        "laser", data_dir, args.out / "laser", {**LASER, "cf_run": str(args.out / "sasrec")}, progress=False
    )
    run_or_reuse("lite_llm4rec", data_dir, args.out / "lite_llm4rec", {"epochs": 5}, progress=False)
    run_or_reuse("text", data_dir, args.out / "text", {}, progress=False)
    run_or_reuse(
        "fusion", data_dir, args.out / "fusion", {"cf_run": str(args.out / "sasrec")}, progress=False
    )

    test = leave_one_out(full).test
    histories = [[full.item_ids[i - 1] for i in h.tolist()] for h in test.histories]
    targets = [full.item_ids[i - 1] for i in test.targets.tolist()]
    groups = {"hidden target": [t in hidden_ids for t in targets]}
    groups["seen target"] = [not g for g in groups["hidden target"]]
    result = {"data": str(args.data), "share": args.share, "seed": args.seed, "hidden_items": len(hidden)}
    result["users"] = {g: sum(m) for g, m in groups.items()}
    rows = {}
    for model in ("laser", "lite_llm4rec", "text", "fusion", "sasrec"):
        rec = laserrec.load(args.out / model)
        if model != "sasrec" and rec.n_items == rec.index.n_trained:
            rec.add_items(hidden)
        usable = [any(i in rec.index.position for i in h) for h in histories]  # SASRec: some are all hidden
        kept = [h for h, u in zip(histories, usable, strict=True) if u]
        lists = iter(rec.recommend_many(kept, k=10, on_unknown="skip"))
        ranked = [[i["id"] for i in next(lists)] if u else [] for u in usable]
        rows["text floor" if model == "text" else model] = by_group(ranked, targets, groups)
    result["rows"], result["wall_seconds"] = rows, round(time.perf_counter() - start, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{len(hidden)} hidden items; test users: {result['users']}")
    print("| model | hidden target R@10 | N@10 | seen target R@10 | N@10 |")
    print("|---|---|---|---|---|")
    for model, r in rows.items():
        h, s = r["hidden target"], r["seen target"]
        note = " (cannot rank hidden items)" if model == "sasrec" else ""
        cells = " | ".join(f"{x:.4f}" for x in (h["recall@10"], h["ndcg@10"], s["recall@10"], s["ndcg@10"]))
        print(f"| {model}{note} | {cells} |")
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
