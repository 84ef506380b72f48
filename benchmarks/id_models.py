"""Seconds per training epoch, seconds per full-ranking evaluation and peak memory of SASRec and BERT4Rec.

    python benchmarks/id_models.py --data data/scientific --out benchmarks/results/id_models.json

Each model runs in its own subprocess so that its peak RSS is its own. Wall time, user and system CPU
time are recorded (system time is where allocation churn shows on this machine).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch


def measure(model_name: str, data_dir: str, epochs: int, batch_size: int) -> dict:
    from laserrec.data.dataset import PreparedData, leave_one_out
    from laserrec.evaluation.evaluator import evaluate
    from laserrec.training.loading import build_model
    from laserrec.training.runs import resolve_configs
    from laserrec.training.samples import SampleSet

    data = PreparedData.load(data_dir)
    split = leave_one_out(data)
    model_cfg, train_cfg = resolve_configs(model_name, {}, {"batch_size": batch_size}, None)
    model = build_model(model_name, model_cfg, data, seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=train_cfg.lr)
    samples = SampleSet(split.train, model.train_mode, model.history_len, seed=0)
    epoch_times, cpu = [], []
    for epoch in range(epochs):
        model.train()
        t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        for _, batch in samples.batches(epoch, train_cfg.batch_size):
            loss, _ = model.calculate_loss(batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        c1 = resource.getrusage(resource.RUSAGE_SELF)
        epoch_times.append(time.perf_counter() - t0)
        cpu.append((c1.ru_utime - c0.ru_utime, c1.ru_stime - c0.ru_stime))
    evals = []
    for _ in range(3):
        t0 = time.perf_counter()
        evaluate(model, split.valid, model.history_len, batch_size=train_cfg.eval_batch_size, progress=False)
        evals.append(time.perf_counter() - t0)
    median = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    return {
        "model": model_name,
        "train_samples_per_epoch": len(samples),
        "batch_size": train_cfg.batch_size,
        "epoch_seconds_median": round(median(epoch_times), 3),
        "epoch_seconds_all": [round(t, 3) for t in epoch_times],
        "epoch_user_cpu_seconds": round(median([u for u, _ in cpu]), 3),
        "epoch_system_cpu_seconds": round(median([s for _, s in cpu]), 3),
        "full_eval_seconds_median": round(median(evals), 3),
        "eval_users": len(split.valid),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="prepared dataset folder")
    parser.add_argument("--out", default="benchmarks/results/id_models.json")
    parser.add_argument("--models", default="sasrec,bert4rec")
    parser.add_argument("--epochs", type=int, default=5, help="timed training epochs per model")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.data, args.epochs, args.batch_size)))
        return
    rows = []
    for name in args.models.split(","):
        cmd = [
            sys.executable,
            __file__,
            "--data",
            args.data,
            "--child",
            name,
            "--epochs",
            str(args.epochs),
            "--batch-size",
            str(args.batch_size),
        ]
        rows.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
    result = {
        "machine": {
            "cpu_count": torch.get_num_threads(),
            "platform": platform.platform(),
            "torch": torch.__version__,
        },
        "data": args.data,
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print("| model | s/epoch | user CPU s | system CPU s | s/full eval | peak RSS GB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['epoch_seconds_median']:.2f} | {r['epoch_user_cpu_seconds']:.2f} | "
            f"{r['epoch_system_cpu_seconds']:.2f} | {r['full_eval_seconds_median']:.2f} | "
            f"{r['peak_rss_gb']:.2f} |"
        )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
