"""One short check of laserrec on a CUDA GPU (under 8 minutes on one): the GPU's measured bf16 matmul,
SASRec trained on Scientific, Laser with SmolLM2 for a fixed number of training steps, item encoding of the
whole catalog and a full evaluation of every test user — times, peak GPU memory and MFU against that
matmul.

    python benchmarks/gpu_check.py --data data/scientific --out benchmarks/results/gpu_check.json
    python benchmarks/gpu_check.py --device cpu --quick --out /tmp/gpu_check.json   # smoke test, any machine

``--quick`` makes its own small synthetic dataset (unless --data is given) and uses the packaged MiniLM
(unless --llm is given) with a few steps: it checks that every part runs, it measures nothing.
MFU = model FLOPs/s (``laserrec bench``'s convention: forward 2 N T + 4 n T^2 d_attn, training twice that)
÷ the matmul FLOP/s measured here in bf16.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

SIZES = {  # per part: SASRec epochs, Laser steps and batch, matmul size
    "full": {"sasrec_epochs": 30, "laser_steps": 60, "laser_batch": 32, "matmul": 8192, "reps": 20},
    "quick": {"sasrec_epochs": 1, "laser_steps": 1, "laser_batch": 4, "matmul": 256, "reps": 3},
}
QUICK_LASER = {"max_history": 2, "max_title_tokens": 8, "d_model": 32, "n_heads": 2, "n_blocks": 1}


def matmul_tflops(device: torch.device, size: int, reps: int) -> dict:
    from laserrec.device import synchronize

    out = {}
    for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        a, b = (torch.randn(size, size, dtype=dtype, device=device) for _ in range(2))
        for _ in range(3):
            a @ b
        synchronize(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        synchronize(device)
        out[f"matmul_tflops_{name}"] = round(2 * size**3 * reps / (time.perf_counter() - t0) / 1e12, 3)
    return out


def synthetic_dataset(folder: Path, n_users: int = 80, n_items: int = 40) -> Path:
    """Users walking through items in steps of 1 or 2, each item with a title (the tests' toy data)."""
    from laserrec.data.dataset import ItemText, PreparedData

    rng = np.random.default_rng(0)
    seqs = []
    for _ in range(n_users):
        start, step, n = rng.integers(1, n_items + 1), rng.integers(1, 3), rng.integers(4, 12)
        seqs.append(np.array([(start - 1 + step * k) % n_items + 1 for k in range(n)], dtype=np.int64))
    items = [ItemText()] + [ItemText(title=f"item {i}", brand=f"b{i % 3}") for i in range(1, n_items + 1)]
    users, ids = [f"u{u}" for u in range(n_users)], [f"i{i}" for i in range(1, n_items + 1)]
    return PreparedData(seqs, items, users, ids, name="synthetic").save(folder)


def sasrec(data: Path, out: Path, device: torch.device, epochs: int) -> dict:
    from laserrec.training.runs import train_run

    over = {"epochs": epochs, "eval_batch_size": 4096, "patience": epochs}
    res = train_run("sasrec", data, out, overrides=over, progress=False, device=device)
    return {
        "epochs": res["epochs_run"],
        "seconds_per_epoch": round(res["train_seconds"] / max(1, res["epochs_run"]), 3),
        "full_eval_seconds": res["test"]["seconds"],
        "test_users": res["test"]["users"],
        "test": {k: round(res["test"][k], 4) for k in ("recall@10", "ndcg@10", "mrr")},
    }


def _timed(device, fn):
    from laserrec.device import synchronize

    synchronize(device)
    t0 = time.perf_counter()
    value = fn()
    synchronize(device)
    return time.perf_counter() - t0, value


def laser(data: Path, cf: Path, llm: str, device, steps: int, batch: int, ceiling: float, quick: bool):
    """Training steps, whole-catalog encoding and a full test evaluation of Laser: the paper's method at
    the CPU sizes (``paper-cpu``, as ``laserrec bench`` times it), so the figures compare with the CPU's."""
    from laserrec.data.dataset import PreparedData, leave_one_out
    from laserrec.device import peak_memory_gb, reset_peak_memory
    from laserrec.evaluation.evaluator import evaluate
    from laserrec.studies.bench.paths import fed_tokens, forward_flops
    from laserrec.training.loading import build_model
    from laserrec.training.runs import resolve_configs
    from laserrec.training.samples import SampleSet

    prepared = PreparedData.load(data)
    split = leave_one_out(prepared)
    over = {"llm": llm, "cf_run": str(cf.resolve()), **(QUICK_LASER if quick else {})}
    cfg, train_cfg = resolve_configs("laser", {}, over, "paper-cpu")
    t_load, net = _timed(device, lambda: build_model("laser", cfg, prepared, 0, device))
    net.show_progress = False
    reset_peak_memory(device)
    t_items, _ = _timed(device, net.refresh_item_matrix)
    item_prompts = [net.prompts.build([i]) for i in range(1, net.n_items + 1)]
    item_flops = forward_flops(net.backbone, fed_tokens(net, item_prompts))
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=train_cfg.lr)
    samples = SampleSet(split.train, net.train_mode, net.history_len, seed=0)
    batches = [b for _, (_, b) in zip(range(steps + 2), samples.batches(0, batch), strict=False)]
    batches = batches[: steps + (1 if quick else 2)]
    net.train()

    def train(chunk):
        flops = 0.0
        for b in chunk:
            loss, _ = net.calculate_loss(b.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            prompts = [net.prompts.build(row) for row in b.history.tolist()]
            flops += 2 * forward_flops(net.backbone, fed_tokens(net, prompts))
        return flops

    warm = 1 if quick else 2
    train(batches[:warm])  # warm-up (kernels, allocator)
    t_train, train_flops = _timed(device, lambda: train(batches[warm:]))
    users = split.test.sample(16, 0) if quick else split.test
    t_eval, (metrics, _) = _timed(
        device,
        lambda: evaluate(net, users, net.history_len, (10,), train_cfg.eval_batch_size, False, False),
    )
    n_steps = len(batches) - warm
    return {
        "llm": llm,
        "model_load_seconds": round(t_load, 2),
        "train_steps": n_steps,
        "batch_size": batch,
        "train_seconds_per_step": round(t_train / max(1, n_steps), 4),
        "train_prompts_per_s": round(n_steps * batch / t_train, 2),
        "train_mfu": round(train_flops / t_train / ceiling, 4),
        "catalog_items": net.n_items,
        "item_encode_seconds": round(t_items, 3),
        "item_encode_per_s": round(net.n_items / t_items, 1),
        "item_encode_mfu": round(item_flops / t_items / ceiling, 4),
        "full_eval_seconds": round(t_eval, 2),
        "full_eval_users": metrics["users"],
        "full_eval_recall@10": round(metrics["recall@10"], 4),
        "peak_gpu_memory_gb": peak_memory_gb(device),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="prepared Scientific (default with --quick: synthetic)")
    ap.add_argument("--out", type=Path, required=True, help="JSON file to write")
    ap.add_argument("--device", default="cuda", help="cuda | cuda:N | cpu (cpu: only with --quick)")
    ap.add_argument("--llm", default=None, help="Laser's LLM (default smollm2; minilm with --quick)")
    ap.add_argument(
        "--quick", action="store_true", help="a few steps on small data: checks, measures nothing"
    )
    args = ap.parse_args()
    from laserrec.device import describe, resolve_device

    device = resolve_device(args.device)
    if device.type != "cuda" and not args.quick:
        ap.error("a full check needs a CUDA GPU; use --device cpu --quick for the smoke test")
    size = SIZES["quick" if args.quick else "full"]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        tmp = Path(tmp)
        data = args.data or (synthetic_dataset(tmp / "data") if args.quick else None)
        if data is None:
            ap.error("--data (a prepared Scientific) is needed without --quick")
        result = {
            "device": describe(device),
            "quick": args.quick,
            "torch": torch.__version__,
            "python": platform.python_version(),
            **matmul_tflops(device, size["matmul"], size["reps"]),
        }
        result["sasrec"] = sasrec(Path(data), tmp / "sasrec", device, size["sasrec_epochs"])
        llm = args.llm or ("minilm" if args.quick else "smollm2")
        ceiling = result["matmul_tflops_bf16"] * 1e12
        result["laser"] = laser(
            Path(data),
            tmp / "sasrec",
            llm,
            device,
            size["laser_steps"],
            size["laser_batch"],
            ceiling,
            args.quick,
        )
    result["total_seconds"] = round(time.perf_counter() - start, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
