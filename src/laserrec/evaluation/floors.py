"""The text-only floor: no training at all. Each item line (title, brand, category) is embedded by the
frozen all-MiniLM-L6-v2 (mean pooling, unit length); a user is the recency-weighted mean (0.5 ** age) of
their history's item embeddings; items are ranked by cosine. Any trained text model should clear it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from laserrec.data.dataset import ItemText
from laserrec.evaluation.evaluator import pad_left
from laserrec.models.prompt import attribute_text


@torch.inference_mode()
def text_item_embeddings(items: list[ItemText], batch_size: int = 128) -> torch.Tensor:
    """Unit MiniLM mean-pooled embeddings of item lines. Input: ItemText per item (index 0 = padding).
    Output: (len(items), 384), row 0 zero."""
    from laserrec.llm.backbone import shared_backbone

    backbone = shared_backbone("minilm", "fp32")
    texts = [f"{t.title.strip()}{attribute_text(t)}" for t in items[1:]]
    out = [torch.zeros(1, backbone.hidden_size)]
    for lo in range(0, len(texts), batch_size):
        enc = backbone.tokenizer(
            texts[lo : lo + batch_size], padding=True, truncation=True, max_length=128, return_tensors="pt"
        )
        hidden = backbone.model(**enc).last_hidden_state  # (B, T, H)
        m = enc["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
        out.append(F.normalize((hidden * m).sum(1) / m.sum(1), dim=-1))
    return torch.cat(out)


def text_users(histories: list, text: torch.Tensor, window: int = 50) -> torch.Tensor:
    """Unit user vectors: 0.5 ** age weighted means of the history's item embeddings (newest: age 0).
    Input: histories of item ids (0 = padding), ``text`` (n_items + 1, H). Output: (U, H)."""
    hist = pad_left(histories, window)  # (U, W)
    age = torch.arange(window - 1, -1, -1).float()
    weights = (0.5**age)[None, :] * (hist > 0).float()  # (U, W)
    return F.normalize((weights.unsqueeze(-1) * text[hist]).sum(1), dim=-1)
