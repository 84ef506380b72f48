"""What ``laserrec bench`` compares: the two ways of encoding Laser prompts, the FLOPs they do and the
machine's matmul ceiling those FLOPs are measured against.

The fast path is what Laser itself does; the plain path is a straightforward Hugging Face forward kept
as a reference (``tests/test_fast_path.py`` checks that both give the same embeddings and rankings).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from laserrec.errors import ConfigError
from laserrec.llm.attention import attention


def forward_flops(backbone: torch.nn.Module, tokens: list[int]) -> float:
    """Forward FLOPs of the frozen backbone over prompts of ``tokens`` real tokens each."""
    cfg = backbone.config
    n = sum(p.numel() for p in backbone.parameters()) - backbone.get_input_embeddings().weight.numel()
    layers = getattr(cfg, "num_hidden_layers", None) or cfg.n_layer
    heads = getattr(cfg, "num_attention_heads", None) or cfg.n_head
    hidden = getattr(cfg, "hidden_size", None) or cfg.n_embd
    d_attn = heads * (getattr(cfg, "head_dim", None) or hidden // heads)
    t = np.asarray(tokens, dtype=np.float64)
    return float((2 * n * t + 4 * layers * t**2 * d_attn).sum())


def fed_tokens(model, prompts: list[list[int]]) -> list[int]:
    """Real tokens each prompt feeds the backbone: prefix + prompt + suffix."""
    return [model.n_prefix + len(p) + model.config.n_virtual_suffix for p in prompts]


def build_prompts(model, kind: str, rows: torch.Tensor) -> list[list[int]]:
    """kind "items": rows (N,) item ids; "users": rows (N, T) left-padded histories."""
    if kind == "items":
        return [model.prompts.build([i]) for i in rows.tolist()]
    return [model.prompts.build(r) for r in rows.tolist()]


def encode_fast(model, kind: str, rows: torch.Tensor, batch_size: int) -> torch.Tensor:
    """What Laser does: batches of similar prompt length, inference_mode, the backbone's own dtype.

    Output: (N, H) float32 in the order of ``rows``.
    """
    order = np.argsort([len(p) for p in build_prompts(model, kind, rows)], kind="stable")
    encode = model.encode_items if kind == "items" else model.encode_users
    out = torch.empty(len(rows), model.item_matrix.shape[1])
    model.eval()
    with torch.inference_mode():
        for lo in range(0, len(order), batch_size):
            idx = torch.from_numpy(order[lo : lo + batch_size])
            out[idx] = encode(rows[idx])
    return out


def encode_plain(
    model, kind: str, rows: torch.Tensor, batch_size: int, seed: int = 0, backbone=None
) -> torch.Tensor:
    """The straightforward Hugging Face way, as a reference: random batches, each right-padded to its
    longest prompt, default position ids, PyTorch's SDPA attention, no_grad; ``backbone`` (default: the
    model's) in its own dtype.

    Output: (N, H) float32 in the order of ``rows``. Only the suffix pooling is supported.
    """
    if model.config.pooling != "suffix":
        raise ConfigError(f"the plain path reads the suffix; pooling is {model.config.pooling!r}")
    net = backbone if backbone is not None else model.backbone
    order = np.random.default_rng(seed).permutation(len(rows))
    out = torch.empty(len(rows), model.item_matrix.shape[1])
    model.eval()
    with torch.no_grad(), attention(net, "sdpa"):
        for lo in range(0, len(order), batch_size):
            idx = torch.from_numpy(order[lo : lo + batch_size])
            out[idx] = _plain_batch(model, net, kind, rows[idx])
    return out


def _plain_batch(model, net, kind: str, rows: torch.Tensor) -> torch.Tensor:
    prompts = build_prompts(model, kind, rows)
    c = mask = None
    if model.mformer is not None and kind == "items":
        c = model.cf.item_states(rows).float()  # (B, 1, d_c)
        mask = torch.ones(c.shape[:2], dtype=torch.bool)
    elif model.mformer is not None:
        c, mask = model._user_states(rows)  # the same collaborative input as the fast path
    prefix, _ = model._prefix(c, mask, len(prompts))  # (B, L, H) fp32 or None
    embed = net.get_input_embeddings()
    seqs = []
    for b, p in enumerate(prompts):
        parts = [] if prefix is None else [prefix[b]]
        parts.append(embed(torch.tensor(p)).float())
        seqs.append(torch.cat([*parts, model.suffix]))  # (T_b, H)
    x = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True)  # (B, T, H), zeros on the right
    lengths = torch.tensor([len(s) for s in seqs])
    attention = (torch.arange(x.shape[1]) < lengths[:, None]).long()  # (B, T)
    dtype = next(net.parameters()).dtype
    hidden = net(inputs_embeds=x.to(dtype), attention_mask=attention).last_hidden_state.float()
    s = model.suffix.shape[0]
    return torch.stack([hidden[b, n - s : n].mean(0) for b, n in enumerate(lengths.tolist())])  # (B, H)


def matmul_gflops(size: int, reps: int) -> dict:
    """GFLOP/s of a square matmul in fp32, and in bf16 where the CPU has it natively (emulated bf16 runs
    some 400x slower: not a ceiling, and minutes per measurement)."""
    from laserrec.llm.backbone import native_bf16

    out = {} if native_bf16() else {"gflops_bf16": None}
    for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32))[len(out) :]:
        a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
        c = torch.empty(size, size, dtype=dtype)
        for _ in range(2):
            torch.mm(a, b, out=c)
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b, out=c)
        out[f"gflops_{name}"] = round(2 * size**3 * reps / (time.perf_counter() - t0) / 1e9, 1)
    return out
