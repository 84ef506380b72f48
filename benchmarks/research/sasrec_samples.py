"""SASRec trained on prefixes or on whole sequences, at two batch sizes, over seeds and datasets.

RecBole's SASRec (same model defaults, same split) ranked above ours on Scientific; the difference that
mattered was the training samples. ``train_mode=sequence`` is the SASRec paper's scheme (one window per
user, a target at every position); ``train_mode=prefix`` makes every prefix its own sample, as RecBole does.
Each cell trains to early stopping (10 epochs without a better validation NDCG@10 over every validation
user, or ``--valid-users``) or ``--max-minutes`` of training, and is tested on every test user.

    python benchmarks/research/sasrec_samples.py --data data/scientific data/ml100k \
        --seeds 2020,2021,2022 --out benchmarks/research/results/sasrec_samples.json

A variant is MODE:BATCH (``--variants sequence:256,prefix:2048``); ``--set KEY=VALUE`` changes a setting of
every cell (e.g. ``--set dropout=0.2``), and ``--positions start`` numbers positions from each sequence's
first item, as RecBole does, instead of back from its last (a patch of this probe, not a library option).
Finished cells are kept in ``--runs`` and reused, so a stopped run goes on where it was. Writes JSON
(``--out``) and prints a table: mean ± sample standard deviation over the seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from laserrec.models.sasrec.model import SASRec
from laserrec.models.transformer import attention_mask
from laserrec.training.runs import train_run

METRICS = ("recall@10", "ndcg@10", "mrr")


def states_from_start(self: SASRec, history: torch.Tensor) -> torch.Tensor:
    """``SASRec.sequence_states`` with position 0 at each sequence's first item (after its padding)."""
    history = history[:, -self.config.max_len :]
    pos = (torch.arange(history.shape[1]) - (history == 0).sum(1, keepdim=True)).clamp(min=0)  # (B, T)
    x = self.dropout(self.ln(self.item_emb(history) + self.pos_emb(pos)))
    mask = attention_mask(history, causal=True)
    for block in self.blocks:
        x = block(x, mask)
    return x


def run_cell(data: str, mode: str, batch: int, seed: int, args: argparse.Namespace) -> dict:
    tag = "".join(f"_{k}{v}" for k, v in args.set.items()) + (
        "_posstart" if args.positions == "start" else ""
    )
    out = args.runs / Path(data).name / f"{mode}_b{batch}{tag}_s{seed}"
    done = out / "cell_result.json"
    if done.exists():
        return json.loads(done.read_text())
    settings = {"train_mode": mode, "batch_size": batch, "seed": seed, "epochs": 300, "patience": 10}
    settings |= {"valid_metric": "ndcg@10", "valid_users": args.valid_users, "eval_batch_size": 4096}
    settings |= {"max_train_minutes": args.max_minutes, **args.set}
    start = time.perf_counter()
    res = train_run(
        "sasrec", data, out, overrides=settings, resume=(out / "last.pt").exists(), progress=False
    )
    row = {
        "data": Path(data).name,
        "mode": mode,
        "batch_size": batch,
        "variant": tag.lstrip("_"),
        "seed": seed,
        "epochs_run": res["epochs_run"],
        "best_epoch": res["best_epoch"],
        "train_seconds": res["train_seconds"],
        "stopped_by": res["stopped_by"],
        "wall_seconds": round(time.perf_counter() - start, 1),
        "valid_ndcg@10": round(res["valid"]["ndcg@10"], 5),
        "test_users": res["test"]["users"],
        "test": {k: round(res["test"][k], 5) for k in METRICS},
    }
    done.write_text(json.dumps(row, indent=2) + "\n")
    return row


def summarise(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["data"], r["mode"], r["batch_size"], r["variant"]), []).append(r)
    out = []
    for (data, mode, batch, variant), rs in groups.items():
        stat = lambda xs: {  # noqa: E731
            "mean": round(statistics.fmean(xs), 5),
            "std": round(statistics.stdev(xs), 5) if len(xs) > 1 else 0.0,
        }
        out.append(
            {
                "data": data,
                "mode": mode,
                "batch_size": batch,
                "variant": variant,
                "seeds": [r["seed"] for r in rs],
                "epochs": [f"{r['epochs_run']} ({r['best_epoch']})" for r in rs],
                "train_seconds": stat([r["train_seconds"] for r in rs]),
                **{k: stat([r["test"][k] for r in rs]) for k in METRICS},
            }
        )
    return out


def table(summary: list[dict]) -> str:
    lines = [
        "| data | train_mode | batch | other | seeds | epochs (best) | train s | R@10 | N@10 | MRR |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    pm = lambda s: f"{s['mean']:.4f} ± {s['std']:.4f}"  # noqa: E731
    for s in summary:
        cells = [
            s["data"],
            s["mode"],
            s["batch_size"],
            s["variant"] or "-",
            len(s["seeds"]),
            ", ".join(s["epochs"]),
        ]
        cells += [f"{s['train_seconds']['mean']:.0f}", *(pm(s[k]) for k in METRICS)]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="+", required=True, help="prepared dataset folders")
    ap.add_argument("--variants", default="sequence:256,prefix:256,prefix:2048", help="MODE:BATCH,...")
    ap.add_argument("--seeds", default="2020,2021,2022", type=lambda s: [int(x) for x in s.split(",")])
    ap.add_argument("--valid-users", type=int, default=0, help="validation users per epoch (0 = all)")
    ap.add_argument("--max-minutes", type=float, default=0.0, help="training time cap per cell (0 = none)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting of every cell")
    ap.add_argument("--positions", choices=("end", "start"), default="end", help="see above")
    ap.add_argument("--runs", type=Path, default=Path("runs/sasrec_samples"), help="where the cells train")
    ap.add_argument("--out", type=Path, required=True, help="JSON to write")
    args = ap.parse_args()
    variants = [(m, int(b)) for m, _, b in (v.partition(":") for v in args.variants.split(","))]
    args.set = {k: json.loads(v) for k, _, v in (kv.partition("=") for kv in args.set)}  # 0.2 -> a float
    if args.positions == "start":
        SASRec.sequence_states = states_from_start
    rows = []
    for data in args.data:
        for mode, batch in variants:
            for seed in args.seeds:
                print(f"sasrec {Path(data).name} train_mode={mode} batch={batch} seed={seed}", flush=True)
                rows.append(run_cell(data, mode, batch, seed, args))
                summary = summarise(rows)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps({"cells": rows, "summary": summary}, indent=2) + "\n")
    print(table(summarise(rows)))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
