"""The self-attention block shared by SASRec and BERT4Rec (post-LN, as in RecBole and BERT)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, hidden: int, heads: int, inner: int, dropout: float, attn_dropout: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.ln1 = nn.LayerNorm(hidden, eps=1e-12)
        self.ff = nn.Sequential(nn.Linear(hidden, inner), nn.GELU(), nn.Linear(inner, hidden))
        self.ln2 = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(dropout)
        self.attn_dropout = attn_dropout

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        """Input shape: x (B, T, D); attn_mask (B, 1, T, T) bool, True = may attend. Output: (B, T, D)."""
        b, t, d = x.shape
        q, k, v = (
            self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        )  # (B, nh, T, hs)
        p = self.attn_dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(b, t, d)
        x = self.ln1(x + self.dropout(self.out(y)))
        return self.ln2(x + self.dropout(self.ff(x)))


def attention_mask(ids: torch.Tensor, causal: bool) -> torch.Tensor:
    """Padding (+ causal) mask. Input: (B, T) ids, 0 = padding. Output: (B, 1, T, T) bool.

    Every position may attend to itself, so a fully padded row never becomes all -inf (NaN).
    """
    t = ids.shape[1]
    allowed = (ids != 0)[:, None, None, :].expand(-1, 1, t, -1)  # (B, 1, T, T) keys that are real
    if causal:
        allowed = allowed & torch.ones(t, t, dtype=torch.bool, device=ids.device).tril()
    return allowed | torch.eye(t, dtype=torch.bool, device=ids.device)


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """Truncated-normal-free init as in RecBole: N(0, 0.02) weights, zero biases, unit LayerNorm."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        module.weight.data.normal_(0.0, std)
    if isinstance(module, nn.Linear) and module.bias is not None:
        module.bias.data.zero_()
    if isinstance(module, nn.LayerNorm):
        module.weight.data.fill_(1.0)
        module.bias.data.zero_()
