"""The short-prompt attention (llm/attention.py) against a hand computation and PyTorch's SDPA."""

import contextlib
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformers import AttentionInterface

from laserrec.llm import attention
from laserrec.llm.attention import bmm_attention
from tiny_backbones import build_tiny_backbone

CAUSAL, BIDIRECTIONAL = nn.Module(), nn.Module()
CAUSAL.is_causal, BIDIRECTIONAL.is_causal = True, False


def reference(q, k, v, mask, causal):
    """SDPA in fp32 with the key/value heads repeated; output (B, Q, H, D) like bmm_attention."""
    g = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal and mask is None)
    return out.transpose(1, 2)


def test_values_by_hand():
    # One head, D = 1, scale 1: query 1 against keys 1 and 2, values 10 and 20.
    q = torch.tensor([1.0, 0.0]).view(1, 1, 2, 1)
    k = torch.tensor([1.0, 2.0]).view(1, 1, 2, 1)
    v = torch.tensor([10.0, 20.0]).view(1, 1, 2, 1)
    out, _ = bmm_attention(BIDIRECTIONAL, q, k, v, None, scaling=1.0)
    p = math.exp(1) / (math.exp(1) + math.exp(2))
    assert out[0, 0, 0, 0].item() == pytest.approx(10 * p + 20 * (1 - p), rel=1e-6)
    assert out[0, 1, 0, 0].item() == pytest.approx(15.0)  # query 0: equal scores, the mean of the values
    causal, _ = bmm_attention(CAUSAL, q, k, v, None, scaling=1.0)
    assert causal[0, 0, 0, 0].item() == pytest.approx(10.0)  # the first position sees only itself
    assert causal[0, 1, 0, 0].item() == pytest.approx(15.0)


@pytest.mark.parametrize("heads,kv", [(4, 2), (4, 4), (6, 1)])
@pytest.mark.parametrize("mask_kind", ["causal", "padding", "additive", "per-head"])
def test_matches_sdpa_forward_and_backward(heads, kv, mask_kind):
    torch.manual_seed(0)
    b, t, d = 3, 7, 8
    q = torch.randn(b, heads, t, d, requires_grad=True)
    k = torch.randn(b, kv, t, d, requires_grad=True)
    v = torch.randn(b, kv, t, d, requires_grad=True)
    real = torch.ones(b, t, dtype=torch.bool)
    real[0, :3] = False  # left padding
    real[1, 5:] = False  # right padding
    causal = torch.ones(t, t, dtype=torch.bool).tril()
    if mask_kind == "causal":
        mask, module = None, CAUSAL
    elif mask_kind == "padding":
        mask, module = (causal & real[:, None, :])[:, None], CAUSAL  # (B, 1, T, T)
        mask = mask | ~mask.any(-1, keepdim=True)  # SDPA gives NaN on a fully masked row; compare the rest
    elif mask_kind == "additive":
        mask, module = torch.randn(b, 1, t, t), BIDIRECTIONAL
    else:
        mask, module = torch.rand(b, heads, t, t) > 0.3, BIDIRECTIONAL
        mask[..., 0] = True
    ours, _ = bmm_attention(module, q, k, v, mask, scaling=d**-0.5)
    ref = reference(q, k, v, mask, module.is_causal)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    grads = torch.autograd.grad(ours.square().sum(), (q, k, v))
    ref_grads = torch.autograd.grad(ref.square().sum(), (q, k, v))
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, atol=1e-4, rtol=1e-4)


def test_fully_masked_rows_stay_finite():
    q = k = v = torch.randn(1, 2, 4, 8)
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    mask[0, 0, 2:, 2:] = True  # rows 0 and 1 (padding) attend to nothing
    out, _ = bmm_attention(CAUSAL, q, k, v, mask)
    assert torch.isfinite(out).all()


@contextlib.contextmanager
def counted():
    """Our attention, under the name the backbones use, counting its calls; the plain one again after."""
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return bmm_attention(*args, **kwargs)

    AttentionInterface.register(attention.NAME, counting)
    try:
        yield calls
    finally:
        attention.register()


@pytest.mark.parametrize("kind", ["llama", "gpt2", "bert"])
def test_backbones_use_it_and_agree_with_sdpa(kind):
    model = build_tiny_backbone(kind).model
    layers = model.config.num_hidden_layers
    ids = torch.randint(5, 200, (3, 9))
    mask = torch.ones(3, 9, dtype=torch.long)
    mask[0, :4] = 0
    mask[2, 6:] = 0
    with counted() as calls:
        ours = model(input_ids=ids, attention_mask=mask).last_hidden_state
    assert len(calls) == layers  # one call per layer
    with attention.attention(model, "sdpa"), counted() as calls:
        ref = model(input_ids=ids, attention_mask=mask).last_hidden_state
    assert not calls  # PyTorch's SDPA ran instead
    with counted() as calls:
        model(input_ids=ids, attention_mask=mask)
    assert len(calls) == layers  # ours again after the block
    keep = mask.bool()
    torch.testing.assert_close(ours[keep], ref[keep], atol=1e-5, rtol=1e-5)
