"""Joining virtual tokens to prompt tokens through ``inputs_embeds`` and reading the embedding back.

Each row is the contiguous sequence ``[prefix (L) | prompt tokens | suffix (S)]``; a batch pads rows on
the left or the right. ``kinds`` marks what sits at every position, so placing the learned vectors,
the attention mask, the position ids and the read-out all derive from one (B, T) tensor.
"""

from __future__ import annotations

import numpy as np
import torch

PAD, PROMPT, PREFIX, SUFFIX, READ = 0, 1, 2, 3, 4  # READ: the last prompt token, read by "eos" pooling


def layout(
    prompts: list[list[int]], n_prefix: int, n_suffix: int, padding_side: str, mark_last: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and position kinds of a padded batch.

    Input: B prompts of token ids. Output: ids (B, T) (0 at prefix, suffix and padding slots),
    kinds (B, T) with PAD / PROMPT / PREFIX / SUFFIX / READ, T = L + max prompt length + S.
    """
    width = n_prefix + max(len(p) for p in prompts) + n_suffix
    ids = np.zeros((len(prompts), width), dtype=np.int64)
    kinds = np.full((len(prompts), width), PAD, dtype=np.int64)
    for b, prompt in enumerate(prompts):
        n = n_prefix + len(prompt) + n_suffix
        start = width - n if padding_side == "left" else 0
        text = start + n_prefix
        kinds[b, start:text] = PREFIX
        ids[b, text : text + len(prompt)] = prompt
        kinds[b, text : text + len(prompt)] = PROMPT
        kinds[b, text + len(prompt) : start + n] = SUFFIX
        if mark_last:
            kinds[b, text + len(prompt) - 1] = READ
    return torch.from_numpy(ids), torch.from_numpy(kinds)


def join(
    token_embeds: torch.Tensor, kinds: torch.Tensor, prefix: torch.Tensor | None, suffix: torch.Tensor | None
) -> torch.Tensor:
    """Put the prefix and suffix vectors into their slots (cast to the LLM's dtype here, at the join).

    Input: token_embeds (B, T, H), kinds (B, T), prefix (B, L, H) or None, suffix (S, H) or None.
    Output: inputs_embeds (B, T, H) in token_embeds' dtype; differentiable w.r.t. prefix and suffix.
    """
    out = token_embeds
    if prefix is not None:
        out = out.masked_scatter((kinds == PREFIX).unsqueeze(-1), prefix.to(out.dtype))
    if suffix is not None:
        b = kinds.shape[0]
        out = out.masked_scatter(
            (kinds == SUFFIX).unsqueeze(-1), suffix.to(out.dtype).expand(b, *suffix.shape)
        )
    return out


def attention_and_positions(kinds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention mask (B, T) (1 = real) and position ids (B, T) counting 0..n-1 over the real tokens only,
    so left and right padding give every real token the same position."""
    mask = (kinds != PAD).long()
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    return mask, positions


def pool(hidden: torch.Tensor, kinds: torch.Tensor, pooling: str) -> torch.Tensor:
    """Read the embedding from the last hidden states.

    Input: hidden (B, T, H), kinds (B, T). Output: (B, H) float32.
    "suffix": mean over the suffix slots; "mean": mean over prompt tokens; "eos": the READ slot.
    """
    hidden = hidden.float()
    if pooling == "mean":
        m = ((kinds == PROMPT) | (kinds == READ)).unsqueeze(-1).float()  # (B, T, 1)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
    slot = SUFFIX if pooling == "suffix" else READ
    m = (kinds == slot).unsqueeze(-1).float()  # (B, T, 1)
    return (hidden * m).sum(1) / m.sum(1)
