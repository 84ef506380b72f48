"""One ``laserrec bench`` measurement, run in its own interpreter (``python -m laserrec.studies.bench.child
'<json spec>'``) so that its peak RSS is its own and thread settings are fixed before torch starts.

Tasks: "matmul" (the ceiling), "main" (the fast path: encoding, training, evaluation), "plain" (the
reference path), "lever" (item encoding, optionally training, under one changed setting).
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from laserrec.allocator import keep_freed_memory
from laserrec.llm import attention
from laserrec.studies.bench.paths import (
    build_prompts,
    encode_fast,
    encode_plain,
    fed_tokens,
    forward_flops,
    matmul_gflops,
)

SIZES = {  # prompts per measurement; "quick" only checks that everything runs
    "full": {"items": 256, "users": 256, "train_steps": 12, "lever_items": 128, "matmul": 2048, "reps": 10},
    "quick": {"items": 32, "users": 32, "train_steps": 2, "lever_items": 32, "matmul": 1024, "reps": 5},
}


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
    from laserrec.training.loading import build_model
    from laserrec.training.runs import resolve_configs

    data = PreparedData.load(spec["data"])
    overrides = {**spec["overrides"], "llm": spec["llm"], "dtype": spec["dtype"]}
    if spec["cf"]:
        overrides["cf_run"] = spec["cf"]
    else:
        overrides.setdefault("prefix_source", "learned")
    model_cfg, train_cfg = resolve_configs("laser", {}, overrides, "paper-cpu")
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
    from laserrec.models.base import pad_left

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
    groups = model.param_groups(1, train_cfg.lr)
    opt = torch.optim.AdamW(groups, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)

    def step(batch) -> None:
        loss, _ = model.calculate_loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if train_cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
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
    keep_freed_memory()  # as the CLI does (the "malloc" lever opts out through the environment)
    torch.set_num_threads(spec["threads"])
    task = spec["task"]
    if task == "matmul":
        out = matmul_gflops(spec["matmul"], spec["reps"])
    else:
        out = {"main": _measure_main, "plain": _measure_plain, "lever": _measure_lever}[task](spec)
    out["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
    out["threads"] = torch.get_num_threads()
    return out


if __name__ == "__main__":  # one child measurement: python -m laserrec.studies.bench.child '<json spec>'
    print(json.dumps(_child_main(json.loads(sys.argv[1]))))
