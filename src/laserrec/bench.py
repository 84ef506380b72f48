"""How fast Laser runs on this machine, and what share of the machine's matmul ceiling it reaches.

``run_bench`` measures in one run, each measurement in its own subprocess (clean peak RSS; thread count
and OMP_WAIT_POLICY fixed before torch starts):

- the ceiling: a square matmul in bf16 and fp32 (GFLOP/s), with all threads and with one;
- the fast path (what Laser does: bf16 backbone, prompts sorted by length, inference_mode): item and
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
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from laserrec.bench_paths import (
    build_prompts,
    encode_fast,
    encode_plain,
    fed_tokens,
    forward_flops,
    matmul_gflops,
)
from laserrec.errors import LaserrecError
from laserrec.llm import attention

SIZES = {  # prompts per measurement; "quick" only checks that everything runs
    "full": {"items": 256, "users": 256, "train_steps": 12, "lever_items": 128, "matmul": 2048, "reps": 10},
    "quick": {"items": 32, "users": 32, "train_steps": 2, "lever_items": 32, "matmul": 1024, "reps": 5},
}
CONVENTIONS = {
    "forward_flops_per_prompt": "2 * N * T + 4 * n_layers * T^2 * d_attn; T = prefix + prompt + suffix "
    "tokens of that prompt (padding excluded), N = backbone parameters without the input embedding (the "
    "base model has no LM head), d_attn = heads * head_dim; attention counted without a causal discount",
    "train_flops": "2 x forward: the forward plus a backward w.r.t. activations only (the backbone is "
    "frozen: no weight-gradient matmuls); M-Former, the loss and the optimizer are not counted",
    "mfu": "model FLOPs/s divided by matmul_gflops_bf16 (same thread count), also for fp32 rows",
    "plain_vs_fast_ratio": "plain-path seconds / fast-path seconds on the same item and user prompts "
    "(> 1: the fast path is faster)",
    "full_eval_seconds": "evaluate() on full_eval_users users against the cached catalog (users in "
    "evaluator order, unsorted); catalog_encode_seconds_estimate adds every item at the measured rate",
    "train_item_matrix": "random unit rows stand in for the encoded catalog (same cost as the real one)",
}
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(2**30), "MALLOC_TRIM_THRESHOLD_": str(2**30)}


# --------------------------------------------------------------------------- FLOPs
# --------------------------------------------------------------------------- child measurements
def _cpu() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def _timed(fn, *args) -> dict:
    """Wall, user and system CPU seconds of ``fn(*args)``; its result under "value"."""
    (u0, s0), t0 = _cpu(), time.perf_counter()
    value = fn(*args)
    (u1, s1), wall = _cpu(), time.perf_counter() - t0
    return {"seconds": wall, "user_cpu_s": round(u1 - u0, 3), "sys_cpu_s": round(s1 - s0, 3), "value": value}


def _rate(model, prompts, result: dict, n: int, train: bool = False) -> dict:
    """prompts/s, tokens/s and model GFLOP/s of a timed pass over ``prompts``."""
    tokens = fed_tokens(model, prompts)
    flops = forward_flops(model.backbone, tokens) * (2 if train else 1)
    s = result["seconds"]
    return {
        "prompts": n,
        "seconds": round(s, 3),
        "prompts_per_s": round(n / s, 3),
        "tokens_per_s": round(sum(tokens) / s, 1),
        "tokens_mean": round(float(np.mean(tokens)), 1),
        "model_gflops_per_s": round(flops / s / 1e9, 2),
        "user_cpu_s": result["user_cpu_s"],
        "sys_cpu_s": result["sys_cpu_s"],
    }


def _build(spec: dict):
    from laserrec.data.dataset import PreparedData, leave_one_out
    from laserrec.training.runs import build_model, resolve_configs

    data = PreparedData.load(spec["data"])
    overrides = {**spec["overrides"], "llm": spec["llm"], "dtype": spec["dtype"]}
    if spec["cf"]:
        overrides["cf_run"] = spec["cf"]
    else:
        overrides.setdefault("prefix_source", "learned")
    model_cfg, train_cfg = resolve_configs("laser", {}, overrides, None)
    model = build_model("laser", model_cfg, data, seed=0)
    if spec.get("attention"):
        attention.use(model.backbone, spec["attention"])
    split = leave_one_out(data)
    size = SIZES[spec["size"]]
    rng = np.random.default_rng(0)
    items = torch.from_numpy(
        np.sort(rng.choice(np.arange(1, data.n_items + 1), size["items"], replace=False))
    )
    return model, split, train_cfg, items, size


def _users(model, split, n: int):
    from laserrec.evaluation.evaluator import pad_left

    users = split.valid.sample(n, seed=0)
    return users, pad_left(users.histories, model.history_len)


def _encode_rates(model, encode, items, hist, item_bs: int, user_bs: int) -> dict:
    """Rates of ``encode`` (encode_fast or encode_plain) over the item and the user prompts."""
    encode(model, "items", items[:item_bs], item_bs)  # warm-up (with compile=true: the compiles)
    encode(model, "users", hist[:user_bs], user_bs)
    out = {}
    for key, kind, rows, bs in (
        ("item_encode", "items", items, item_bs),
        ("user_encode", "users", hist, user_bs),
    ):
        timed = _timed(encode, model, kind, rows, bs)
        out[key] = _rate(model, build_prompts(model, kind, rows), timed, len(rows))
    return out


def _train_rate(model, split, train_cfg, steps: int) -> dict:
    """Training steps (forward + backward + optimizer step) against a stand-in catalog of random unit rows
    (encoding the real one is timed per item elsewhere); two warm-up steps (optimizer state; where
    torch.compile compiles the backward) are timed apart."""
    from laserrec.training.samples import SampleSet

    state = model.trainable_state_dict()
    matrix = F.normalize(torch.randn_like(state["item_matrix"]), dim=-1)
    matrix[0] = 0
    model.load_trainable_state_dict({**state, "item_matrix": matrix})
    model.set_phase(1)
    samples = SampleSet(split.train, model.train_mode, model.history_len, train_cfg.seed)
    batches = [samples.batch(i) for i in samples.batch_order(0, train_cfg.batch_size)[: 2 + steps]]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)

    def step(batch) -> None:
        loss, _ = model.calculate_loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if train_cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, train_cfg.grad_clip)
        opt.step()

    model.train()
    warmup = _timed(lambda: [step(b) for b in batches[:2]])
    timed = _timed(lambda: [step(b) for b in batches[2:]])
    model.eval()
    prompts = [p for b in batches[2:] for p in build_prompts(model, "users", b.history)]
    return {
        **_rate(model, prompts, timed, len(prompts), train=True),
        "batch_size": train_cfg.batch_size,
        "warmup_seconds": round(warmup["seconds"], 2),
    }


def _measure_main(spec: dict) -> dict:
    """The fast path: item and user encoding, training steps, full evaluation, peak RSS."""
    from laserrec.evaluation.evaluator import evaluate

    model, split, train_cfg, items, size = _build(spec)
    users, hist = _users(model, split, size["users"])
    enc_bs, eval_bs = model.config.encode_batch_size, train_cfg.eval_batch_size
    out = _encode_rates(model, encode_fast, items, hist, enc_bs, eval_bs)
    out["train"] = _train_rate(model, split, train_cfg, size["train_steps"])
    model.set_phase(2)  # keep the (stand-in) catalog: evaluation scores users only
    timed = _timed(lambda: evaluate(model, users, model.history_len, (10,), eval_bs, progress=False))
    out["full_eval"] = {"users": len(users), "seconds": round(timed["seconds"], 3), "batch_size": eval_bs}
    trainable, total = model.parameter_counts()
    out.update(
        n_items=model.n_items,
        parameters={"trainable": trainable, "total": total},
        config={"encode_batch_size": enc_bs, "eval_batch_size": eval_bs, **vars(model.config)},
    )
    return out


def _measure_plain(spec: dict) -> dict:
    """The plain path over the same item and user prompts (the model is built in spec["dtype"])."""
    model, split, train_cfg, items, size = _build(spec)
    _, hist = _users(model, split, size["users"])
    enc_bs, eval_bs = model.config.encode_batch_size, train_cfg.eval_batch_size
    return _encode_rates(model, encode_plain, items, hist, enc_bs, eval_bs)


def _measure_lever(spec: dict) -> dict:
    """Fast-path item encoding under one setting (and training steps if spec["train"]); the warm-up (two
    batches of different lengths, where torch.compile compiles) is timed apart."""
    model, split, train_cfg, items, size = _build(spec)
    items, bs = items[: size["lever_items"]], spec["batch_size"]
    lengths = [len(p) for p in build_prompts(model, "items", items)]
    order = np.argsort(lengths)
    warm = torch.cat([items[order[:bs]], items[order[-bs:]]])
    warmup = _timed(lambda: [encode_fast(model, "items", w, bs) for w in warm.split(bs)])
    timed = _timed(encode_fast, model, "items", items, bs)
    out = {
        **_rate(model, build_prompts(model, "items", items), timed, len(items)),
        "warmup_seconds": round(warmup["seconds"], 2),
    }
    if spec.get("train"):
        out["train"] = _train_rate(model, split, train_cfg, size["train_steps"])
    return out


def _child_main(spec: dict) -> dict:
    torch.set_num_threads(spec["threads"])
    task = spec["task"]
    if task == "matmul":
        out = matmul_gflops(spec["matmul"], spec["reps"])
    else:
        out = {"main": _measure_main, "plain": _measure_plain, "lever": _measure_lever}[task](spec)
    out["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
    out["threads"] = torch.get_num_threads()
    return out


# --------------------------------------------------------------------------- parent
def _spawn(spec: dict, env: dict | None = None, timeout: float = 3600) -> dict:
    """Run one measurement in a fresh interpreter; a failure is returned as {"error": ...}."""
    child_env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "TQDM_DISABLE": "1", **(env or {})}
    cmd = [sys.executable, "-m", "laserrec.bench", json.dumps(spec)]
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
    """(lever, setting, spec changes, env) — the baseline is all cores, bf16, the encode batch size,
    passive OpenMP waiting, glibc's default malloc, no compile."""
    rows = [("baseline", f"{cores} threads, bf16, batch {encode_bs}", {"train": True}, {})]
    rows += [("attention", "PyTorch SDPA (flash kernel)", {"attention": "sdpa", "train": True}, {})]
    rows += [("threads", str(t), {"threads": t}, {}) for t in sorted({1, cores}) if t != cores]
    rows += [("dtype", "fp32", {"dtype": "fp32"}, {})]
    rows += [("batch size", str(b), {"batch_size": b}, {}) for b in (8, 16, 32) if b != encode_bs]
    compiled = {"overrides": {**base["overrides"], "compile": True}, "train": True}
    rows += [("torch.compile", "compile=true (dynamic=True)", compiled, {})]
    rows += [("OMP_WAIT_POLICY", "ACTIVE", {}, {"OMP_WAIT_POLICY": "ACTIVE"})]
    rows += [("malloc", "mmap/trim thresholds 1 GiB", {}, MALLOC_ENV)]
    return [(lever, setting, {**base, **change}, env) for lever, setting, change, env in rows]


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
        "dtype": "bf16",
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
        **_headline(ceil, main, plain, cores),
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
            row["mfu"] = _mfu(r["model_gflops_per_s"], ceil[spec["threads"]].get("gflops_bf16"))
            baseline = r if lever == "baseline" else baseline
            if baseline:
                row["speed_vs_baseline"] = round(r["prompts_per_s"] / baseline["prompts_per_s"], 3)
            if "train" in r and baseline and "train" in baseline:
                bf16 = ceil[spec["threads"]].get("gflops_bf16")
                row["train_mfu"] = _mfu(r["train"]["model_gflops_per_s"], bf16)
                row["train_speed_vs_baseline"] = round(
                    r["train"]["prompts_per_s"] / baseline["train"]["prompts_per_s"], 3
                )
            if lever == "torch.compile" and baseline:
                row["compile_seconds"] = round(r["warmup_seconds"] - baseline["warmup_seconds"], 2)
        levers.append(row)
    return levers


def _headline(ceil: dict, main: dict, plain: dict, cores: int) -> dict:
    """The top-level numbers: ceilings, fast-path rates and MFU, evaluation, memory, plain/fast."""
    bf16, item_rate = ceil[cores].get("gflops_bf16"), main["item_encode"]["prompts_per_s"]
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
        "matmul_gflops_bf16": bf16,
        "matmul_gflops_fp32": ceil[cores].get("gflops_fp32"),
        "matmul_gflops_bf16_1thread": ceil[1].get("gflops_bf16"),
        "matmul_gflops_fp32_1thread": ceil[1].get("gflops_fp32"),
        "train_prompts_per_s": main["train"]["prompts_per_s"],
        "train_mfu": _mfu(main["train"]["model_gflops_per_s"], bf16),
        "item_encode_prompts_per_s": item_rate,
        "item_encode_mfu": _mfu(main["item_encode"]["model_gflops_per_s"], bf16),
        "user_encode_prompts_per_s": main["user_encode"]["prompts_per_s"],
        "user_encode_mfu": _mfu(main["user_encode"]["model_gflops_per_s"], bf16),
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


if __name__ == "__main__":  # one child measurement: python -m laserrec.bench '<json spec>'
    print(json.dumps(_child_main(json.loads(sys.argv[1]))))
