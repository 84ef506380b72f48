"""Exact against FAISS top-k on a synthetic catalog and on real runs, and `recommend` wall times.

    python benchmarks/item_index.py --synthetic 1000000 --dim 384 --runs runs/ml/sasrec runs/ml/laser \
        --out benchmarks/results/item_index.json

Synthetic: unit vectors around 2,000 centres (items of one centre are alike, as real catalogs have
neighbourhoods), 1,000 queries near random items. Reported per catalog: recall@10 of FAISS against exact
search, queries/s of both (batches of 64), FAISS build seconds. Per run: load seconds, one `recommend`
call (one history), one `recommend_many` call of 1,000 test histories, and the same recall and speeds on
the run's own item index with its test users' vectors. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import torch

from laserrec.inference.approximate import ApproximateSearch
from laserrec.inference.index import ItemIndex


def synthetic(n: int, d: int, seed: int = 0) -> tuple[ItemIndex, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(2000, d, generator=g), dim=-1)
    items = torch.empty(n, d)
    for lo in range(0, n, 100_000):  # in blocks: one (n, d) temporary at a time
        hi = min(n, lo + 100_000)
        owner = torch.randint(0, 2000, (hi - lo,), generator=g)
        items[lo:hi] = torch.nn.functional.normalize(
            centres[owner] + 0.05 * torch.randn(hi - lo, d, generator=g), dim=-1
        )
    picks = torch.randint(0, n, (1000,), generator=g)
    queries = torch.nn.functional.normalize(items[picks] + 0.05 * torch.randn(1000, d, generator=g), dim=-1)
    return ItemIndex(items, None, [str(i) for i in range(n)], [{}] * n, "cosine", n), queries


def compare(index: ItemIndex, queries: torch.Tensor, k: int = 10, batch: int = 64) -> dict:
    """Recall@k of FAISS against exact search and the queries/s of both."""
    start = time.perf_counter()
    approx = ApproximateSearch(index)
    build = time.perf_counter() - start
    out = {"items": index.n_items, "dim": int(index.vectors.shape[1]), "queries": len(queries)}
    found = {}
    for name, search in (("exact", index.top_k), ("faiss", approx.top_k)):
        start = time.perf_counter()
        found[name] = torch.cat(
            [search(queries[lo : lo + batch], k)[1] for lo in range(0, len(queries), batch)]
        )
        out[f"{name}_queries_per_s"] = round(len(queries) / (time.perf_counter() - start), 1)
    hits = sum(
        len(set(a) & set(e)) for a, e in zip(found["faiss"].tolist(), found["exact"].tolist(), strict=True)
    )
    out.update(recall_at_10=round(hits / found["exact"].numel(), 4), faiss_build_s=round(build, 1))
    return out


def run_figures(run_dir: Path, users: int = 1000) -> dict:
    import laserrec
    from laserrec.data.dataset import leave_one_out

    start = time.perf_counter()
    rec = laserrec.load(run_dir)
    loaded = time.perf_counter() - start
    test = leave_one_out(rec.data).test
    histories = [[rec.data.item_ids[i - 1] for i in h.tolist()] for h in test.histories[:users]]
    rec.recommend(histories[0], k=10)  # warm: first calls allocate
    start = time.perf_counter()
    rec.recommend(histories[1], k=10)
    one = time.perf_counter() - start
    start = time.perf_counter()
    rec.recommend_many(histories, k=10, approximate=False)
    many = time.perf_counter() - start
    with torch.inference_mode():
        rows = [rec.index.rows_of(h)[0][-rec.net.history_len :] for h in histories]
        queries = torch.cat([rec._queries(rows[lo : lo + 64]) for lo in range(0, len(rows), 64)])
    return {
        "run": str(run_dir),
        "model": rec.model,
        "load_s": round(loaded, 2),
        "recommend_one_history_s": round(one, 4),
        f"recommend_{len(histories)}_histories_s": round(many, 2),
        "index": compare(rec.index, queries),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--synthetic", type=int, default=0, help="items of the synthetic catalog (0 = none)")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--runs", nargs="*", default=[], type=Path, help="trained run folders")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = {"threads": torch.get_num_threads(), "synthetic": None, "runs": []}
    if args.synthetic:
        result["synthetic"] = compare(*synthetic(args.synthetic, args.dim))
    result["runs"] = [run_figures(r) for r in args.runs]
    result["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| catalog | items | recall@10 FAISS | exact q/s | FAISS q/s | FAISS build s |")
    print("|---|---|---|---|---|---|")
    rows = ([("synthetic", result["synthetic"])] if result["synthetic"] else []) + [
        (f"{r['model']} ({r['run']})", r["index"]) for r in result["runs"]
    ]
    for name, c in rows:
        print(f"| {name} | {c['items']:,} | {c['recall_at_10']:.4f} | {c['exact_queries_per_s']:,} | "
              f"{c['faiss_queries_per_s']:,} | {c['faiss_build_s']} |")  # fmt: skip
    if result["runs"]:
        print("\n| run | load s | recommend, one history s | recommend_many, 1,000 histories s |")
        print("|---|---|---|---|")
        for r in result["runs"]:
            many = next(
                v for key, v in r.items() if key.startswith("recommend_") and key.endswith("histories_s")
            )
            print(f"| {r['model']} ({r['run']}) | {r['load_s']} | {r['recommend_one_history_s']} | {many} |")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
