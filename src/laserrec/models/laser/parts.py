"""Laser's trainable parts at their start: M-Former from the config and the suffix."""

from __future__ import annotations

import torch

from laserrec.llm.backbone import Backbone
from laserrec.models.base import CollaborativeEncoder
from laserrec.models.laser.config import LaserConfig
from laserrec.models.laser.mformer import MFormer


def build_mformer(c: LaserConfig, cf: CollaborativeEncoder, hidden: int, emb_std: float) -> MFormer:
    """M-Former from the ID model's width to the LLM's (hidden), its output at the LLM's embedding scale."""
    k, top = c.experts
    return MFormer(
        cf.hidden_size,
        hidden,
        k,
        c.n_prefix,
        top,
        c.n_blocks,
        c.d_model,
        c.n_heads,
        c.dropout,
        out_std=emb_std,
    )


def suffix_start(backbone: Backbone, n: int, emb_std: float) -> torch.Tensor:
    """Initial suffix (n, H): a summarising token's embedding (plus a little noise when n > 1); random
    when the tokenizer has no such token.

    A random vector gives the frozen LLM an input it never saw, and its output starts far from any
    useful summary; a [MASK] (encoders) or EOS (decoders) embedding starts where the LLM already
    summarises the text before it.
    """
    hidden = backbone.hidden_size
    tok = backbone.tokenizer
    token_id = tok.mask_token_id if backbone.kind == "encoder" else tok.eos_token_id
    if token_id is None:
        return torch.randn(n, hidden) * emb_std
    start = backbone.input_embeddings().weight[token_id].detach().float()
    return start.expand(n, hidden) + torch.randn(n, hidden) * emb_std * (0.1 if n > 1 else 0.0)
