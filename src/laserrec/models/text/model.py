"""The text-only recommender: no training at all, the floor every text model should clear.

Each item line (title, brand, last category: ``<title> (brand: B, category: C)``) is embedded by a frozen
encoder (all-MiniLM-L6-v2 by default) as the mean of its last hidden states over the line's tokens, unit
length; a user is the unit recency-weighted mean of the history's item embeddings (weight
``decay ** age``, the newest item age 0, over the last ``window`` items); items are ranked by cosine.
It is the text-only floor of the design brief (Recall@10 0.095 on scientific_lcrec), made a model: it
trains with ``laserrec train --model text`` (the catalog encoded once, no gradient step), and serves,
recommends and takes new items like any run.

- New items (``add_items``) are encoded from their text as every item is: nothing was trained, so an added
  item is ranked exactly as it would have been had it been in the catalog from the start.
- Not a paper's model: the baseline RecFormer and Laser compare against as a frozen text encoder (mean
  pooling, as sentence-transformers does for all-MiniLM-L6-v2); any encoder or decoder can be read
  (``llm``), mean-pooled the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from laserrec.data.dataset import ItemText
from laserrec.llm.backbone import Backbone, place_backbone
from laserrec.models.base import Batch, Recommender
from laserrec.models.prompt import attribute_text, item_list
from laserrec.models.text.config import TextOptions


def item_line(item: ItemText) -> str:
    """What the encoder reads of an item: ``<title> (brand: B, category: C)``."""
    return f"{item.title.strip()}{attribute_text(item)}"


@torch.inference_mode()
def encode_lines(backbone: Backbone, lines: list[str], max_tokens: int, batch_size: int) -> torch.Tensor:
    """Unit mean-pooled last hidden states of each line. Output: (len(lines), H) float32, on the
    encoder's device. Lines are batched in order, each batch padded to its longest line."""
    device = next(backbone.model.parameters()).device
    pad = backbone.tokenizer.pad_token_id or 0  # decoders often have no pad token: the mask hides it
    out = [torch.zeros(0, backbone.hidden_size, device=device)]
    for lo in range(0, len(lines), batch_size):
        ids = backbone.tokenizer(lines[lo : lo + batch_size], truncation=True, max_length=max_tokens)[
            "input_ids"
        ]
        width = max(len(row) for row in ids)
        tokens = torch.tensor([row + [pad] * (width - len(row)) for row in ids], device=device)  # (B, T)
        mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in ids], device=device)
        hidden = backbone.model(input_ids=tokens, attention_mask=mask).last_hidden_state.float()  # (B, T, H)
        m = mask.unsqueeze(-1).float()  # (B, T, 1)
        out.append(F.normalize((hidden * m).sum(1) / m.sum(1), dim=-1))
    return torch.cat(out)


def recency_users(history: torch.Tensor, items: torch.Tensor, window: int, decay: float) -> torch.Tensor:
    """Unit ``decay ** age`` weighted means of the history's item rows (newest: age 0).
    Input: history (B, T) left-padded ids, items (n_items + 1, H) with row 0 zero. Output: (B, H)."""
    hist = F.pad(history[:, -window:], (max(0, window - history.shape[1]), 0))  # (B, window)
    age = torch.arange(window - 1, -1, -1, device=history.device).float()
    weights = (decay**age)[None, :] * (hist > 0).float()  # (B, window)
    return F.normalize((weights.unsqueeze(-1) * items[hist]).sum(1), dim=-1)


class TextRecommender(Recommender):
    gradient_steps = False  # the catalog is encoded once (fit_statistics)
    scoring = "cosine"

    def __init__(self, config: TextOptions, n_items: int, item_texts: list[ItemText], backbone: Backbone):
        super().__init__()
        self.config, self.n_items = config, n_items
        self.encoder = backbone.model  # frozen (load_backbone): never trained, never saved
        object.__setattr__(self, "_backbone", backbone)  # the tokenizer with it; not a second module
        self.lines = [item_line(t) for t in item_list(item_texts, n_items)]  # index 0: padding
        self.register_buffer("item_text", torch.zeros(n_items + 1, backbone.hidden_size))  # unit rows

    @property
    def history_len(self) -> int:
        return self.config.window

    def to_device(self, device: torch.device) -> TextRecommender:
        place_backbone(self.encoder, self.config.dtype, device)
        return super().to_device(device)

    def encode_items(self, ids: torch.Tensor) -> torch.Tensor:
        """Unit embeddings of items ``ids`` (B,) from their text. Output: (B, H)."""
        c = self.config
        lines = [self.lines[i] for i in ids.tolist()]
        return encode_lines(self._backbone, lines, c.max_tokens, c.encode_batch_size).to(self.item_text)

    def fit_statistics(self, train: list[np.ndarray], validate: Callable[[], float]) -> dict:
        """Encode the whole catalog (the only fitting there is)."""
        self.item_text[1:] = self.encode_items(torch.arange(1, self.n_items + 1))
        return {}

    def add_items(self, texts: list[ItemText]) -> None:
        """Append items n_items + 1, ... encoded from their text, as every item of the catalog was."""
        first = self.n_items + 1
        self.lines += [item_line(t) for t in texts]
        self.n_items += len(texts)
        new = self.encode_items(torch.arange(first, self.n_items + 1))
        self.item_text = torch.cat([self.item_text, new])

    def item_vectors(self) -> tuple[torch.Tensor, None]:
        return self.item_text, None

    def user_vectors(self, history: torch.Tensor) -> torch.Tensor:
        return recency_users(history, self.item_text, self.config.window, self.config.decay)

    def full_sort_predict(self, batch: Batch) -> torch.Tensor:
        scores = self.user_vectors(batch.history) @ self.item_text.T  # (B, n_items + 1)
        scores[:, 0] = float("-inf")
        return scores

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The encoded catalog: a loaded run ranks without encoding it again."""
        return {"item_text": self.item_text}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.item_text = state["item_text"].to(self.item_text)
