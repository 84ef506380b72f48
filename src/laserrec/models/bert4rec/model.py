"""BERT4Rec: bidirectional self-attention over the item sequence, trained as a cloze task.

Paper: F. Sun et al., "BERT4Rec: Sequential Recommendation with Bidirectional Encoder Representations from
Transformer", CIKM 2019.
A mask token (id n_items + 1) replaces random positions in training (and, in a share of sequences, only
the last item, as the paper does to match prediction); at prediction it is appended after the history and
the model's output there scores every item through a GELU head tied to the input embeddings.

Deviations:
- The output head ends in a LayerNorm (RecBole's), and a training window in which no position was drawn
  gets its last item masked, so every window yields a target.
- The defaults are RecBole 1.2.1's hyper-parameters; windows are one per user (the sequence shifted by
  one), not one per prefix.
- ``repeat_bias`` (off by default, not in the paper): the learned offset off the scores of items already in
  the history (``models/repeat.py``), applied at each masked position to the items before it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from laserrec.models.base import Batch, CollaborativeEncoder, Recommender
from laserrec.models.bert4rec.config import BERT4RecConfig
from laserrec.models.repeat import first_seen, repeat_parameter, take_offset
from laserrec.models.transformer import Block, attention_mask, init_weights


class BERT4Rec(Recommender, CollaborativeEncoder):
    train_mode = "sequence"

    def __init__(self, config: BERT4RecConfig, n_items: int):
        super().__init__()
        self.config, self.n_items = config, n_items
        self.hidden_size = config.hidden_size
        self.mask_id = n_items + 1
        self.item_emb = nn.Embedding(n_items + 2, config.hidden_size, padding_idx=0)
        self.pos_emb = nn.Embedding(config.max_len, config.hidden_size)
        self.ln = nn.LayerNorm(config.hidden_size, eps=1e-12)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            Block(config.hidden_size, config.n_heads, config.inner_size, config.dropout, config.attn_dropout)
            for _ in range(config.n_layers)
        )
        self.head = nn.Sequential(
            nn.Linear(config.hidden_size, config.hidden_size), nn.GELU(), nn.LayerNorm(config.hidden_size)
        )
        self.out_bias = nn.Parameter(torch.zeros(n_items))
        self.repeat_bias = repeat_parameter(config)
        self.apply(init_weights)

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        """Input: (B, T) left-padded ids (may hold mask tokens). Output: (B, T, d)."""
        ids = ids[:, -self.config.max_len :]
        t = ids.shape[1]
        pos = torch.arange(self.config.max_len - t, self.config.max_len, device=ids.device)
        x = self.dropout(self.ln(self.item_emb(ids) + self.pos_emb(pos)))
        mask = attention_mask(ids, causal=False)
        for block in self.blocks:
            x = block(x, mask)
        return x

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        """Input: (N, d). Output: (N, n_items) scores of items 1..n_items (weights tied to the input)."""
        return self.head(h) @ self.item_emb.weight[1 : self.n_items + 1].T + self.out_bias

    def _with_mask_token(self, history: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, <= max_len): the most recent items followed by the mask token."""
        mask_col = torch.full_like(history[:, :1], self.mask_id)
        return torch.cat([history[:, -(self.config.max_len - 1) :], mask_col], dim=1)

    def cloze(self, seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Random cloze masking. Input: (B, T) ids. Output: (masked ids, labels with 0 = not masked)."""
        real = seq != 0
        masked = (torch.rand(seq.shape, device=seq.device) < self.config.mask_ratio) & real
        last_only = torch.rand(seq.shape[0], 1, device=seq.device) < self.config.last_mask_prob
        last = torch.zeros_like(masked)
        last[:, -1] = real[:, -1]
        masked = torch.where(last_only, last, masked | (last & ~masked.any(1, keepdim=True)))
        return seq.masked_fill(masked, self.mask_id), seq * masked

    def calculate_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        # In "sequence" mode target = the sequence shifted by one: exactly the window to cloze on.
        seq = batch.target[:, -self.config.max_len :]
        ids, labels = self.cloze(seq)
        h = self.encode(ids)  # (B, T, d)
        keep = labels != 0
        logits = self._logits(h[keep])  # (n_masked, n_items)
        if self.repeat_bias is None:
            return F.cross_entropy(logits, labels[keep] - 1), {}
        rows, cols = keep.nonzero(as_tuple=True)  # items before position t, as at prediction
        seen = first_seen(seq, self.n_items)[rows] < cols[:, None]
        loss = F.cross_entropy(logits - seen * self.repeat_bias, labels[keep] - 1)
        return loss, {"repeat_bias": self.repeat_bias.item()}

    def item_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.item_emb.weight[: self.n_items + 1]  # without the mask token's row
        return rows, torch.cat([self.out_bias.new_zeros(1), self.out_bias])

    def user_vectors(self, history: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(self._with_mask_token(history))[:, -1])  # (B, d)

    def full_sort_predict(self, batch: Batch) -> torch.Tensor:
        h = self.encode(self._with_mask_token(batch.history))[:, -1]  # (B, d)
        scores = torch.full((h.shape[0], self.n_items + 1), float("-inf"), device=h.device)
        scores[:, 1:] = self._logits(h)
        scores[:, 1:] = take_offset(scores[:, 1:], batch.history, self.repeat_bias, self.n_items)
        return scores

    def sequence_states(self, history: torch.Tensor) -> torch.Tensor:
        return self.encode(history)

    def item_states(self, items: torch.Tensor) -> torch.Tensor:
        return self.item_emb(items)[:, None, :]  # (B, 1, d)
