"""How fast Laser runs on this machine, and what share of the machine's matmul ceiling it reaches.

``run_bench`` measures in one run, each measurement in its own subprocess (``bench.child``: clean peak
RSS; thread count and OMP_WAIT_POLICY fixed before torch starts):

- the ceiling: a square matmul in bf16 (where the CPU has it natively) and fp32 (GFLOP/s), with all
  threads and with one;
- the fast path (what Laser does: the backbone in the machine's dtype — bf16 where the CPU has native
  bf16, else fp32, as ``dtype=auto`` picks —, prompts sorted by length, inference_mode): item and
  user encoding (prompts/s), training steps (forward + backward through the frozen backbone, optimizer
  step on the trainable parts) and full-ranking evaluation of N users;
- the plain path (a straightforward Hugging Face forward: fp32 weights, random unsorted batches padded
  to their longest prompt, no_grad) on the same prompts, as a time ratio;
- levers on item encoding: attention kernel, threads, dtype, batch size, torch.compile, OMP_WAIT_POLICY,
  malloc tuning; the attention kernel also on training steps.

Model FLOPs come from the tokens actually fed (prefix + prompt + suffix, padding excluded); see
``CONVENTIONS``. Run it on an idle machine: another busy process changes the numbers several-fold.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

from laserrec.allocator import OPT_OUT
from laserrec.errors import LaserrecError
from laserrec.llm.backbone import resolve_dtype
from laserrec.studies.bench.child import SIZES

CONVENTIONS = {
    "forward_flops_per_prompt": "2 * N * T + 4 * n_layers * T^2 * d_attn; T = prefix + prompt + suffix "
    "tokens of that prompt (padding excluded), N = backbone parameters without the input embedding (the "
    "base model has no LM head), d_attn = heads * head_dim; attention counted without a causal discount",
    "train_flops": "2 x forward: the forward plus a backward w.r.t. activations only (the backbone is "
    "frozen: no weight-gradient matmuls); M-Former, the loss and the optimizer are not counted",
    "mfu": "model FLOPs/s divided by the matmul ceiling of the fast path's dtype (same thread count), "
    "also for the dtype lever's row",
    "plain_vs_fast_ratio": "plain-path seconds / fast-path seconds on the same item and user prompts "
    "(> 1: the fast path is faster)",
    "full_eval_seconds": "evaluate() on full_eval_users users against the cached catalog (users in "
    "evaluator order, unsorted); catalog_encode_seconds_estimate adds every item at the measured rate",
    "train_item_matrix": "random unit rows stand in for the encoded catalog (same cost as the real one)",
}


# --------------------------------------------------------------------------- parent
def _spawn(spec: dict, env: dict | None = None, timeout: float = 3600) -> dict:
    """Run one measurement in a fresh interpreter; a failure is returned as {"error": ...}."""
    child_env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "TQDM_DISABLE": "1", **(env or {})}
    cmd = [sys.executable, "-m", "laserrec.studies.bench.child", json.dumps(spec)]
    print(f"  measuring {spec['task']} {spec.get('label', '')}".rstrip(), file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(cmd, env=child_env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return {"error": (lines[-1] if lines else f"exit status {proc.returncode}")[:400]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _lever_specs(base: dict, cores: int, encode_bs: int) -> list[tuple[str, str, dict, dict]]:
    """(lever, setting, spec changes, env) — the baseline is all cores, the machine's dtype, the encode
    batch size, passive OpenMP waiting, malloc thresholds raised (allocator.py), no compile."""
    rows = [("baseline", f"{cores} threads, {base['dtype']}, batch {encode_bs}", {"train": True}, {})]
    rows += [("attention", "PyTorch SDPA (flash kernel)", {"attention": "sdpa", "train": True}, {})]
    rows += [("threads", str(t), {"threads": t}, {}) for t in sorted({1, cores}) if t != cores]
    if base["dtype"] == "bf16":  # emulated bf16 (no native support) is no lever: ~400x slower
        rows += [("dtype", "fp32", {"dtype": "fp32"}, {})]
    rows += [("batch size", str(b), {"batch_size": b}, {}) for b in (8, 16, 32) if b != encode_bs]
    compiled = {"overrides": {**base["overrides"], "compile": True}, "train": True}
    rows += [("torch.compile", "compile=true (dynamic=True)", compiled, {})]
    rows += [("OMP_WAIT_POLICY", "ACTIVE", {}, {"OMP_WAIT_POLICY": "ACTIVE"})]
    rows += [("malloc", "glibc defaults (no mallopt)", {}, {OPT_OUT: "default"})]
    return [(lever, setting, {**base, **change}, env) for lever, setting, change, env in rows]


def _ceiling(ceil: dict, threads: int, dtype: str) -> float | None:
    return ceil[threads].get(f"gflops_{dtype}")


def _mfu(gflops: float | None, ceiling: float | None) -> float | None:
    return round(gflops / ceiling, 4) if gflops and ceiling else None


def run_bench(
    data: str | Path,
    out: str | Path,
    cf: str | Path | None = None,
    llm: str = "smollm2",
    quick: bool = False,
    overrides: dict | None = None,
    threads: int = 0,
    levers: bool = True,
) -> dict:
    """Measure everything (see the module docstring), write ``out`` as JSON and return the result.

    ``threads``: torch threads of the measurements (0 = every core); the threads lever compares it with 1.
    ``levers``: False skips the lever rows (the headline measurements only).
    """
    from laserrec.models.laser.config import LaserConfig

    overrides = dict(overrides or {})
    if not Path(data, "meta.json").is_file():
        raise LaserrecError(f"{data} is not a prepared dataset (no meta.json); run `laserrec prepare`")
    cores, size = threads or os.cpu_count() or 1, "quick" if quick else "full"
    encode_bs = int(overrides.get("encode_batch_size", LaserConfig.encode_batch_size))
    base = {
        "data": str(data),
        "cf": str(cf) if cf else "",
        "llm": llm,
        "overrides": overrides,
        "size": size,
        "threads": cores,
        "dtype": resolve_dtype("auto"),
        "batch_size": encode_bs,
    }
    matmul = {"task": "matmul", **SIZES[size]}
    ceil = {t: _spawn({**matmul, "threads": t, "label": f"{t} threads"}) for t in sorted({cores, 1})}
    main = _spawn({**base, "task": "main"})
    if "error" in main:
        raise LaserrecError(f"the fast-path measurement failed: {main['error']}")
    plain = _spawn({**base, "task": "plain", "dtype": "fp32"})
    levers = _run_levers(base, ceil, encode_bs) if levers else []
    users_sorted, users_eval = main["user_encode"], main["full_eval"]
    levers.append(
        {
            "lever": "sort eval users by prompt length",
            "setting": "sorted (user_encode) vs evaluate() order (full_eval)",
            "prompts_per_s": users_sorted["prompts_per_s"],
            "speed_vs_baseline": round(
                users_sorted["prompts_per_s"] * users_eval["seconds"] / users_eval["users"], 3
            ),
        }
    )
    result = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "transformers": __import__("transformers").__version__,
        },
        "settings": {
            **{k: base[k] for k in ("data", "cf", "llm", "overrides", "size", "threads")},
            "sizes": SIZES[size],
            "levers_measure": f"fast-path item encoding of {SIZES[size]['lever_items']} items per setting "
            "(baseline and attention rows: also training steps)",
        },
        "conventions": CONVENTIONS,
        **_headline(ceil, main, plain, cores, base["dtype"]),
        "levers": levers,
        "measurements": {"matmul": ceil, "fast": main, "plain": plain},
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2) + "\n")
    return result


def _run_levers(base: dict, ceil: dict, encode_bs: int) -> list[dict]:
    levers, baseline = [], None
    for lever, setting, spec, env in _lever_specs(base, base["threads"], encode_bs):
        r = _spawn({**spec, "task": "lever", "label": f"{lever} {setting}"}, env)
        row = {"lever": lever, "setting": setting, **r}
        if "error" not in r:
            ceiling = _ceiling(ceil, spec["threads"], base["dtype"])
            row["mfu"] = _mfu(r["model_gflops_per_s"], ceiling)
            baseline = r if lever == "baseline" else baseline
            if baseline:
                row["speed_vs_baseline"] = round(r["prompts_per_s"] / baseline["prompts_per_s"], 3)
            if "train" in r and baseline and "train" in baseline:
                row["train_mfu"] = _mfu(r["train"]["model_gflops_per_s"], ceiling)
                row["train_speed_vs_baseline"] = round(
                    r["train"]["prompts_per_s"] / baseline["train"]["prompts_per_s"], 3
                )
            if lever == "torch.compile" and baseline:
                row["compile_seconds"] = round(r["warmup_seconds"] - baseline["warmup_seconds"], 2)
        levers.append(row)
    return levers


def _headline(ceil: dict, main: dict, plain: dict, cores: int, dtype: str) -> dict:
    """The top-level numbers: ceilings, fast-path rates and MFU, evaluation, memory, plain/fast."""
    peak, item_rate = _ceiling(ceil, cores, dtype), main["item_encode"]["prompts_per_s"]
    ratios = {}
    if "error" not in plain:
        fast_s = main["item_encode"]["seconds"] + main["user_encode"]["seconds"]
        plain_s = plain["item_encode"]["seconds"] + plain["user_encode"]["seconds"]
        ratios = {
            "plain_vs_fast_ratio": round(plain_s / fast_s, 3),
            "plain_item_vs_fast_ratio": round(item_rate / plain["item_encode"]["prompts_per_s"], 3),
            "plain_user_vs_fast_ratio": round(
                main["user_encode"]["prompts_per_s"] / plain["user_encode"]["prompts_per_s"], 3
            ),
        }
    return {
        "dtype": dtype,
        "matmul_gflops_bf16": ceil[cores].get("gflops_bf16"),
        "matmul_gflops_fp32": ceil[cores].get("gflops_fp32"),
        "matmul_gflops_bf16_1thread": ceil[1].get("gflops_bf16"),
        "matmul_gflops_fp32_1thread": ceil[1].get("gflops_fp32"),
        "train_prompts_per_s": main["train"]["prompts_per_s"],
        "train_mfu": _mfu(main["train"]["model_gflops_per_s"], peak),
        "item_encode_prompts_per_s": item_rate,
        "item_encode_mfu": _mfu(main["item_encode"]["model_gflops_per_s"], peak),
        "user_encode_prompts_per_s": main["user_encode"]["prompts_per_s"],
        "user_encode_mfu": _mfu(main["user_encode"]["model_gflops_per_s"], peak),
        "full_eval_seconds": main["full_eval"]["seconds"],
        "full_eval_users": main["full_eval"]["users"],
        "catalog_items": main["n_items"],
        "catalog_encode_seconds_estimate": round(main["n_items"] / item_rate, 1),
        "peak_rss_gb": main["peak_rss_gb"],
        "plain_vs_fast_ratio": None,
        "plain_item_vs_fast_ratio": None,
        "plain_user_vs_fast_ratio": None,
        **ratios,
    }
