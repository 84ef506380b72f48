"""``laserrec plan`` against a real run: Laser with SmolLM2 (``paper-cpu``) trained for a few steps on this
CPU, with and without gradient checkpointing, each in its own process (so its peak RSS is its own).

    python benchmarks/plan_check.py --data data/ml-100k/prepared --cf runs/ml/sasrec \\
        --out benchmarks/results/plan_check.json

Compared: parameter counts (exact), tokens per user prompt (the plan's estimate against the prompts'
real mean), memory (the plan's gradients + optimizer + activations + item matrix and logits against the
peak RSS a training step adds to the loaded model), and step time (the plan at 65% of the bf16 matmul
ceiling measured in the same process — ``laserrec bench``'s MFU here — against the measured step).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil
import torch


def child(spec: dict) -> dict:
    from laserrec.data.dataset import PreparedData, leave_one_out
    from laserrec.studies.bench.paths import fed_tokens, matmul_gflops
    from laserrec.studies.plan import plan
    from laserrec.training.loading import build_model
    from laserrec.training.runs import resolve_configs
    from laserrec.training.samples import SampleSet

    torch.manual_seed(0)
    data = PreparedData.load(spec["data"])
    over = {"llm": "smollm2", "cf_run": str(Path(spec["cf"]).resolve())}
    cfg, _ = resolve_configs("laser", {}, over, "paper-cpu")
    net = build_model("laser", cfg, data, 0)
    net.show_progress = False
    if spec["checkpointing"]:
        net.checkpoint_frozen_llm()
    net.refresh_item_matrix()  # phase 1's matrix: part of what the plan counts
    samples = SampleSet(leave_one_out(data).train, "prefix", net.history_len, seed=0)
    batches = [
        b for _, (_, b) in zip(range(spec["steps"] + 1), samples.batches(0, spec["batch"]), strict=False)
    ]
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-3)
    ceiling = matmul_gflops(2048, 10)["gflops_bf16"] * 1e9
    base = psutil.Process().memory_info().rss
    net.train()
    times, tokens = [], []
    for i, batch in enumerate(batches):
        t0 = time.perf_counter()
        loss, _ = net.calculate_loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i:  # the first step warms up
            times.append(time.perf_counter() - t0)
        tokens += fed_tokens(net, [net.prompts.build(r) for r in batch.history.tolist()])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    mean_tokens = round(sum(tokens) / len(tokens))
    kw = dict(batch=spec["batch"], items=data.n_items, cf_hidden=net.cf.hidden_size, device="cpu",
              grad_checkpointing=spec["checkpointing"])  # fmt: skip
    estimated = plan(cfg, "smollm2", **kw)
    exact = plan(cfg, "smollm2", tokens=mean_tokens, tflops=0.65 * ceiling / 1e12, **kw)
    added = {
        k: v
        for k, v in exact.memory_gb.items()
        if k not in ("frozen_llm_weights", "trainable_weights", "total")
    }
    step = sorted(times)[len(times) // 2]
    trainable, total = net.parameter_counts()
    return {
        "grad_checkpointing": spec["checkpointing"],
        "batch": spec["batch"],
        "parameters": {
            "plan_llm": exact.llm_parameters,
            "real_llm": total - trainable,
            "plan_trainable": exact.trainable_parameters,
            "real_trainable": trainable,
        },
        "tokens_per_user_prompt": {
            "plan_estimate": estimated.tokens_per_user_prompt,
            "real_mean": mean_tokens,
        },
        "memory_gb": {
            "plan_added_by_training": round(sum(added.values()), 3),
            "plan_parts": added,
            "real_peak_rss_added": round((peak - base) / 1e9, 3),
            "real_rss_before_training": round(base / 1e9, 3),
            "plan_total": exact.memory_gb["total"],
        },
        "step_seconds": {
            "plan_at_65pct_of_ceiling": round(exact.step_seconds, 3),
            "real_median": round(step, 3),
            "real_all": [round(t, 3) for t in times],
        },
        "matmul_gflops_bf16": round(ceiling / 1e9, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--cf", required=True, help="a trained SASRec run on the same data")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=4)
    args = ap.parse_args()
    rows = []
    for checkpointing in (False, True):
        spec = {"data": args.data, "cf": args.cf, "batch": args.batch, "steps": args.steps,
                "checkpointing": checkpointing}  # fmt: skip
        out = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True,
                             text=True, check=True)  # fmt: skip
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1], indent=1))
    result = {"runs": rows, "note": "2 cores shared with other jobs: step times are an upper bound"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child(json.loads(sys.argv[2]))))
    else:
        main()
