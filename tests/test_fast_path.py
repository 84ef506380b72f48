"""Laser's fast path (bf16, length-sorted batches, left padding with explicit positions, inference_mode)
gives what a plain Hugging Face forward gives (fp32, random batches, right padding, default positions)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import FakeCF
from laserrec.data.dataset import ItemText
from laserrec.models.laser.config import LaserConfig
from laserrec.models.laser.model import Laser
from laserrec.studies.bench.paths import encode_fast, encode_plain, forward_flops
from tiny_backbones import build_tiny_backbone

WORDS = ["saw", "drill", "hammer", "lamp", "pen", "cup", "rope", "tent", "boot", "coat", "ring", "bell"]
N_ITEMS = len(WORDS)
ITEMS = [ItemText()] + [
    ItemText(
        title=f"{w} model {i}" + " pro" * (i % 4), brand="Acme" if i % 2 else "", categories=f"Tools, {w}s"
    )
    for i, w in enumerate(WORDS, start=1)
]
IDS = torch.arange(1, N_ITEMS + 1)
HISTORY = torch.tensor(
    [[0, 0, 0, 2], [3, 4, 5, 6], [0, 1, 2, 3], [7, 8, 9, 10], [0, 0, 11, 12], [5, 1, 9, 2]]
)


def make(
    dtype: str, padding_side: str = "left", kind: str = "llama", compile: bool = False
) -> tuple[Laser, nn.Module]:
    """A Laser on a tiny backbone in ``dtype`` and the same backbone's weights in fp32."""
    config = LaserConfig(
        llm=f"tiny-{kind}", dtype=dtype, padding_side=padding_side, n_prefix=3, n_experts=3, top_k=2,
        d_model=16, n_heads=2, max_history=4, max_prompt_tokens=128, dropout=0.0, compile=compile,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Laser(config, N_ITEMS, ITEMS, build_tiny_backbone(kind, dtype), FakeCF(N_ITEMS))
    return model, build_tiny_backbone(kind, "fp32").model


def top5(users: torch.Tensor, items: torch.Tensor) -> list[list[int]]:
    return (F.normalize(users, dim=-1) @ F.normalize(items, dim=-1).T).topk(5).indices.tolist()


def test_bf16_fast_path_matches_fp32_plain_path():
    model, fp32 = make("bf16")
    fast_items, fast_users = encode_fast(model, "items", IDS, 4), encode_fast(model, "users", HISTORY, 4)
    plain_items = encode_plain(model, "items", IDS, 4, seed=3, backbone=fp32)
    plain_users = encode_plain(model, "users", HISTORY, 4, seed=3, backbone=fp32)
    assert F.cosine_similarity(fast_items, plain_items).min() > 0.99
    assert F.cosine_similarity(fast_users, plain_users).min() > 0.99
    assert top5(fast_users, fast_items) == top5(plain_users, plain_items)


@pytest.mark.parametrize("kind", ["llama", "gpt2", "bert"])
@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_fp32_fast_path_equals_plain_path(padding_side, kind):
    """Same dtype: only batching, padding and position ids differ, so the embeddings must agree
    (GPT-2's and BERT's absolute positions catch a shift that Llama's rotary positions forgive)."""
    model, _ = make("fp32", padding_side, kind)
    for kind, rows in (("items", IDS), ("users", HISTORY)):
        fast, plain = encode_fast(model, kind, rows, 4), encode_plain(model, kind, rows, 5, seed=1)
        torch.testing.assert_close(fast, plain, atol=1e-4, rtol=1e-4)


def test_forward_flops_counts_parameters_and_attention():
    backbone = build_tiny_backbone("llama").model
    cfg = backbone.config
    n = sum(p.numel() for p in backbone.parameters()) - backbone.embed_tokens.weight.numel()
    attention = 4 * cfg.num_hidden_layers * cfg.hidden_size
    assert forward_flops(backbone, [10, 20]) == 2 * n * 30 + attention * (10**2 + 20**2)


def test_compiled_backbone_gives_the_same_embeddings_and_gradients():
    eager, _ = make("fp32")
    compiled, _ = make("fp32", compile=True)
    torch.testing.assert_close(encode_fast(compiled, "items", IDS, 4), encode_fast(eager, "items", IDS, 4))
    grads = []
    for model in (eager, compiled):
        model.train()
        model.encode_users(HISTORY).square().sum().backward()
        grads.append(model.suffix.grad.clone())
    torch.testing.assert_close(grads[1], grads[0], atol=1e-5, rtol=1e-4)
