"""M-Former: a mixture of query experts that turns collaborative states C into an LLM prefix.

K experts are K sets of L learnable queries (d_m each); the Z transformer blocks are shared by all
experts (as the Q-Former's blocks are shared by its queries), which lets every selected
(sequence, expert) pair run in one batch. Blocks are pre-LN: x += SA(LN x); in even blocks
(0, 2, 4, ...) x += CA(LN x, C'); x += FFN(LN x). Selected experts are combined with their *raw*
router weights w_j, as in the paper (not renormalised over the top-k), so the router gets gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """One pre-LN block over the queries, with optional cross-attention to C'."""

    def __init__(self, d_model: int, n_heads: int, dropout: float, cross: bool) -> None:
        super().__init__()
        self.ln_self = nn.LayerNorm(d_model)
        self.self_attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.ln_cross = nn.LayerNorm(d_model) if cross else None
        self.cross_attn = (
            nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True) if cross else None
        )
        self.ln_ff = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * d_model, d_model)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """Input: x (P, L, d_m), memory (P, N, d_m), pad (P, N) True = padding. Output: (P, L, d_m)."""
        h = self.ln_self(x)
        x = x + self.drop(self.self_attn(h, h, h, need_weights=False)[0])
        if self.cross_attn is not None:
            h = self.ln_cross(x)
            x = x + self.drop(self.cross_attn(h, memory, memory, key_padding_mask=pad, need_weights=False)[0])
        return x + self.drop(self.ff(self.ln_ff(x)))


def router_weights(probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """w_j = mean over real positions i of softmax(C W_r^T)_ij.

    Input: probs (B, N, K) routing probabilities, mask (B, N) True = real position. Output: (B, K).
    """
    m = mask.unsqueeze(-1).to(probs.dtype)  # (B, N, 1)
    return (probs * m).sum(1) / m.sum(1).clamp(min=1.0)


def load_balancing_loss(probs: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """L_LB = K * sum_j f_j * mean_b w_bj, f_j = share of real positions whose arg-max expert is j.

    Input: probs (B, N, K), mask (B, N), weights (B, K). Output: scalar.
    """
    k = probs.shape[-1]
    top = probs.argmax(-1)[mask]  # (n_real,)
    f = torch.bincount(top, minlength=k).to(probs.dtype) / max(1, top.numel())  # (K,)
    return k * (f * weights.mean(0)).sum()


class MFormer(nn.Module):
    """C (B, N, d_c) -> prefix (B, L, d_llm), load-balancing loss, router weights (B, K)."""

    def __init__(
        self,
        d_c: int,
        d_llm: int,
        n_experts: int,
        n_queries: int,
        top_k: int,
        n_blocks: int,
        d_model: int,
        n_heads: int,
        dropout: float = 0.1,
        out_std: float = 0.02,
    ) -> None:
        super().__init__()
        self.top_k = min(top_k, n_experts)
        self.router = nn.Linear(d_c, n_experts, bias=False)  # W_r (K, d_c)
        self.queries = nn.Parameter(torch.randn(n_experts, n_queries, d_model) * 0.02)  # (K, L, d_m)
        self.memory_proj = nn.Linear(d_c, d_model)  # C' = Linear(C)
        self.blocks = nn.ModuleList(
            Block(d_model, n_heads, dropout, cross=z % 2 == 0) for z in range(n_blocks)
        )
        self.ln_out = nn.LayerNorm(d_model)
        # The prefix = out_std * to_llm(LN output): unit-scale weights times a fixed factor that brings the
        # prefix to the scale of the LLM's token embeddings. Folding the factor into the weights instead
        # (std ~0.003) lets each Adam step (~lr per weight) rewrite them: one step at lr 1e-3 took the
        # prefix's ranking from Recall@10 0.039 to 0.016, and it never recovered (docs/research.md,
        # "Does the collaborative signal get through phase 1?").
        self.to_llm = nn.Linear(d_model, d_llm)
        nn.init.normal_(self.to_llm.weight, std=d_model**-0.5)
        nn.init.zeros_(self.to_llm.bias)
        self.out_scale = out_std

    def route(self, c: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Input: c (B, N, d_c), mask (B, N). Output: probs (B, N, K), weights (B, K)."""
        probs = F.softmax(self.router(c), dim=-1)  # (B, N, K)
        return probs, router_weights(probs, mask)

    def forward(self, c: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Input: c (B, N, d_c) collaborative states, mask (B, N) True = real position.

        Output: prefix (B, L, d_llm), lb_loss (scalar), weights (B, K).
        """
        mask = mask | ~mask.any(1, keepdim=True)  # a row with no real position would make attention NaN
        probs, weights = self.route(c, mask)
        w_top, idx = weights.topk(self.top_k, dim=-1)  # (B, k), (B, k)
        b, k = idx.shape
        x = self.queries[idx.reshape(-1)]  # (B*k, L, d_m): one row per selected (sequence, expert) pair
        memory = self.memory_proj(c).repeat_interleave(k, dim=0)  # (B*k, N, d_m)
        pad = (~mask).repeat_interleave(k, dim=0)  # (B*k, N)
        for block in self.blocks:
            x = block(x, memory, pad)
        x = self.ln_out(x).view(b, k, *x.shape[1:])  # (B, k, L, d_m)
        mixed = (x * w_top[:, :, None, None]).sum(1)  # (B, L, d_m)
        return self.to_llm(mixed) * self.out_scale, load_balancing_loss(probs, mask, weights), weights
