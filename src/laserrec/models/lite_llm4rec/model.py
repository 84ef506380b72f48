"""Lite-LLM4Rec: item LLM -> item embeddings -> recommendation LLM -> projection head over every item.

Paper: H. Wang et al., "Rethinking Large Language Model Architectures for Sequential Recommendations",
arXiv 2402.09543 (2024).
Hierarchical: the item LLM turns each item's text into one vector; the recommendation LLM (a decoder) reads
the sequence of those vectors through ``inputs_embeds`` and its last position is the user representation;
a linear head scores the whole item set at once (no beam search, no generated text). Loss: cross-entropy
over all items. Items are encoded once per step however often they occur (``torch.unique`` over the
batch), or once in all when the item LLM is frozen (the cache).

Deviations (the ``paper`` recipe removes the first two):
- By default the item LLM is frozen and the catalog encoded once (``item_llm_mode=frozen_cached``), the
  cache standardised per dimension; the paper fine-tunes it. Fine-tuning a 135M-parameter LLM for every
  distinct item of every batch takes hours per epoch on a CPU.
- By default the recommendation LLM is a small Llama trained from scratch (``rec_llm=small``: 2 layers,
  width 256) instead of the pretrained LLM fine-tuned; with ``rec_llm=backbone`` both LLMs start from one
  checkpoint, as in the paper.
- An item's text is the shared prompt's item line (``<title> (brand: B, category: C)``, ``models/prompt.py``)
  with the tokenizer's special tokens, its embedding the mean of the last hidden states (``item_pooling``).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from laserrec import distributed
from laserrec.data.dataset import ItemText
from laserrec.device import autocast
from laserrec.errors import CheckpointError, ConfigError
from laserrec.llm.backbone import Backbone, freeze, place_backbone
from laserrec.models.base import Batch, Recommender
from laserrec.models.lite_llm4rec.config import LiteLLM4RecConfig
from laserrec.models.prompt import PromptBuilder, special_tokens


def unfreeze(model: nn.Module) -> nn.Module:
    """Undo ``freeze``: trainable fp32 weights and a working ``.train()``."""
    vars(model).pop("train", None)
    return model.requires_grad_(True).float()


def small_llama(config: LiteLLM4RecConfig) -> nn.Module:
    """A randomly initialised Llama decoder of the ``rec_*`` sizes (it only ever reads ``inputs_embeds``)."""
    from transformers import LlamaConfig, LlamaModel

    cfg = LlamaConfig(
        vocab_size=1,
        hidden_size=config.rec_hidden,
        intermediate_size=config.rec_intermediate,
        num_hidden_layers=config.rec_layers,
        num_attention_heads=config.rec_heads,
        num_key_value_heads=config.rec_heads,
        max_position_embeddings=config.max_history,
        attention_dropout=config.dropout,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
    )
    return LlamaModel(cfg)


def item_token_ids(tokenizer, items: list[ItemText], max_title_tokens: int) -> list[list[int]]:
    """Token ids of each item's text ``<title> (brand: B, category: C)`` with the tokenizer's special tokens.

    Reuses Laser's per-item line cache. Index 0 (padding) holds an empty list.
    """
    lines = PromptBuilder(tokenizer, items, 1, max_title_tokens, 10**9).item_line_ids
    lead, trail = special_tokens(tokenizer)
    return [[]] + [lead + ids + trail for ids in lines[1:]]


class LiteLLM4Rec(Recommender):
    train_mode = "prefix"

    def __init__(
        self, config: LiteLLM4RecConfig, n_items: int, item_texts: list[ItemText], backbone: Backbone
    ):
        super().__init__()
        if len(item_texts) != n_items + 1:
            raise ConfigError(f"{len(item_texts)} item texts for {n_items} items (expected n_items + 1)")
        self.config, self.n_items = config, n_items
        self.frozen_items = config.item_llm_mode == "frozen_cached"
        llm = freeze(backbone.model)
        self.item_llm = llm if self.frozen_items else unfreeze(llm)
        self.tokenizer = backbone.tokenizer
        self.item_tokens = item_token_ids(backbone.tokenizer, item_texts, config.max_title_tokens)
        self.rec_llm, width = self._rec_llm(backbone)
        self.item_proj = nn.Sequential(
            nn.LayerNorm(backbone.hidden_size),
            nn.Dropout(config.dropout),
            nn.Linear(backbone.hidden_size, width),
        )
        self.head = nn.Linear(width, n_items)  # the item projection head: one output per item
        self.register_buffer("item_cache", torch.zeros(n_items + 1, backbone.hidden_size), persistent=False)
        self._cache_valid = False
        self._standardise: tuple[torch.Tensor, torch.Tensor] | None = None  # the frozen cache's (mean, std)

    def _rec_llm(self, backbone: Backbone) -> tuple[nn.Module, int]:
        c = self.config
        if c.rec_llm == "small":
            return small_llama(c), c.rec_hidden
        if backbone.kind != "decoder":
            raise ConfigError(
                f"rec_llm=backbone needs a decoder LLM; {backbone.name!r} is an {backbone.kind}"
            )
        if self.frozen_items and not c.rec_llm_trainable:
            return self.item_llm, backbone.hidden_size  # one frozen LLM plays both roles
        rec = copy.deepcopy(self.item_llm)  # the paper's two LLMs start from one checkpoint
        return (unfreeze(rec) if c.rec_llm_trainable else freeze(rec)), backbone.hidden_size

    @property
    def history_len(self) -> int:
        return self.config.max_history

    def to_device(self, device: torch.device) -> LiteLLM4Rec:
        """A frozen item LLM becomes bf16 on CUDA (dtype=auto); trained LLMs stay fp32."""
        if self.frozen_items and not self.config.llm_trainable:
            place_backbone(self.item_llm, self.config.dtype, device)
        return super().to_device(device)

    # ------------------------------------------------------------------ item LLM
    def encode_items(self, ids: torch.Tensor) -> torch.Tensor:
        """Item LLM. Input: (U,) distinct item ids >= 1. Output: (U, H_item) float32."""
        rows = [self.item_tokens[i] for i in ids.tolist()]
        width = max(len(r) for r in rows)
        tokens = torch.zeros(len(rows), width, dtype=torch.long)  # right-padded (U, L)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for r, row in enumerate(rows):
            tokens[r, : len(row)] = torch.tensor(row)
            mask[r, : len(row)] = 1
        tokens, mask = tokens.to(self.item_cache.device), mask.to(self.item_cache.device)
        with autocast(tokens.device, enabled=self.frozen_items):
            hidden = self.item_llm(input_ids=tokens, attention_mask=mask, use_cache=False).last_hidden_state
        hidden = hidden.float()
        if self.config.item_pooling == "last":
            return hidden[torch.arange(len(rows), device=tokens.device), mask.sum(1) - 1]  # (U, H)
        m = mask.unsqueeze(-1).float()  # (U, L, 1)
        return (hidden * m).sum(1) / m.sum(1)

    def refresh_item_cache(self) -> None:
        """Encode every item once (inference mode, shortest texts first to cut padding) into the cache.

        A frozen item LLM's cache is then standardised per dimension over the catalog (a fixed affine map),
        so the few outlier dimensions of LLM hidden states do not dominate the projection's LayerNorm.
        """
        order = sorted(range(1, self.n_items + 1), key=lambda i: len(self.item_tokens[i]))
        size = self.config.item_batch_size
        batches = [order[start : start + size] for start in range(0, len(order), size)]
        mine = distributed.my_share(len(batches))  # under torchrun: this rank's batches, then all-gathered
        was_training = self.training
        self.eval()
        with (
            torch.inference_mode(),
            self.catalog_bar() as bar,
        ):
            for j in mine:
                ids = torch.tensor(batches[j], device=self.item_cache.device)
                self.item_cache[ids] = self.encode_items(ids)
                bar.update(len(ids) * distributed.world())
            distributed.fill_rows(self.item_cache, [i for j in mine for i in batches[j]])
            if self.frozen_items:
                items = self.item_cache[1:]  # (n_items, H)
                self._standardise = (items.mean(0), items.std(0).clamp(min=1e-6))
                items.sub_(self._standardise[0]).div_(self._standardise[1])
        self.train(was_training)
        self._cache_valid = True

    def add_items(self, texts: list[ItemText], neighbours: int = 10) -> None:
        """Append items n_items + 1, ... from their text. The item LLM encodes them as any item; the
        projection head learned one row per trained item, so laserrec gives a new item the mean row and
        bias of the ``neighbours`` trained items nearest to it by the item LLM's vectors (cosine)."""
        if self._standardise is None and self.frozen_items:
            self.refresh_item_cache()  # the catalog's standardisation is needed for the new rows
        self.prepare_for_eval()
        first = self.n_items + 1
        self.item_tokens += item_token_ids(
            self.tokenizer, [ItemText(), *texts], self.config.max_title_tokens
        )[1:]
        self.n_items += len(texts)
        ids = torch.arange(first, self.n_items + 1, device=self.item_cache.device)
        was_training = self.training
        self.eval()
        with torch.inference_mode():
            rows = torch.cat([self.encode_items(chunk) for chunk in ids.split(self.config.item_batch_size)])
            if self.frozen_items:
                rows = (rows - self._standardise[0]) / self._standardise[1]
            known = F.normalize(self.item_cache[1:first], dim=-1)  # (n_known, H)
            near = (F.normalize(rows, dim=-1) @ known.T).topk(min(neighbours, first - 1)).indices  # (M, k)
            head = nn.Linear(self.head.in_features, self.n_items, device=self.head.weight.device)
            head.weight.copy_(torch.cat([self.head.weight, self.head.weight[near].mean(1)]))
            head.bias.copy_(torch.cat([self.head.bias, self.head.bias[near].mean(1)]))
        self.item_cache = torch.cat([self.item_cache, rows])
        self.head = head.requires_grad_(False)
        self.train(was_training)

    def history_embeddings(self, history: torch.Tensor) -> torch.Tensor:
        """Input: (B, T) ids, 0 = padding. Output: (B, T, H_item) float32, zeros at padding.

        From the cache when the item LLM is frozen (or, when it trains, at evaluation); otherwise each
        distinct item of the batch goes through the item LLM once, with gradient.
        """
        if self.frozen_items or (not self.training and self._cache_valid):
            if not self._cache_valid:
                self.refresh_item_cache()
            return self.item_cache[history]
        ids, inverse = torch.unique(history, return_inverse=True)  # ids sorted: padding 0 comes first
        if ids[-1] == 0:  # nothing but padding
            return self.item_cache.new_zeros(*history.shape, self.item_cache.shape[1])
        table = self.encode_items(ids[ids > 0])  # (U, H)
        if ids[0] == 0:
            table = torch.cat([table.new_zeros(1, table.shape[1]), table])
        return table[inverse]  # (B, T, H)

    # ------------------------------------------------------------------ recommendation LLM and head
    def encode_users(self, history: torch.Tensor) -> torch.Tensor:
        """Input: (B, T) left-padded ids. Output: (B, d_rec) float32, the rec LLM's state at the last item."""
        history = history[:, -self.config.max_history :]
        x = self.item_proj(self.history_embeddings(history))  # (B, T, d_rec)
        mask = history > 0
        mask[:, -1] = True  # an empty history still reads one (zero) position
        positions = (mask.long().cumsum(1) - 1).clamp(min=0)
        dtype = next(self.rec_llm.parameters()).dtype
        out = self.rec_llm(
            inputs_embeds=x.to(dtype), attention_mask=mask.long(), position_ids=positions, use_cache=False
        )
        return out.last_hidden_state[:, -1].float()

    def item_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The projection head's rows and biases, one per item (row 0, padding, zero)."""
        w, b = self.head.weight, self.head.bias
        return torch.cat([w.new_zeros(1, w.shape[1]), w]), torch.cat([b.new_zeros(1), b])

    def user_vectors(self, history: torch.Tensor) -> torch.Tensor:
        return self.encode_users(history)

    def _scores(self, history: torch.Tensor) -> torch.Tensor:
        """Output: (B, n_items) logits, column j = item j + 1."""
        return self.head(self.encode_users(history))

    def calculate_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy of the projection head's logits over all items against the next item."""
        self._cache_valid = self._cache_valid and self.frozen_items  # a trained item LLM changes every step
        return F.cross_entropy(self._scores(batch.history), batch.target - 1), {}

    def full_sort_predict(self, batch: Batch) -> torch.Tensor:
        """Output: (B, n_items + 1), column 0 = -inf."""
        with torch.no_grad():
            scores = self._scores(batch.history)
        return F.pad(scores, (1, 0), value=float("-inf"))

    def on_epoch_start(self, epoch: int) -> None:
        if self.frozen_items and not self._cache_valid:
            self.refresh_item_cache()

    def prepare_for_eval(self) -> None:
        """Encode every item once for the whole evaluation (again only if the item LLM trained since)."""
        if not self._cache_valid:
            self.refresh_item_cache()

    # ------------------------------------------------------------------ checkpoints
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Trained weights only; with a frozen item LLM also its item cache (saves re-encoding on load)."""
        state = {n: p.detach().clone() for n, p in self.named_parameters() if p.requires_grad}
        if self.frozen_items and self._cache_valid:
            state["item_cache"] = self.item_cache.clone()
        return state

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        params = {n: p for n, p in self.named_parameters() if p.requires_grad}
        expected = set(params) | ({"item_cache"} if self.frozen_items else set())
        missing, unexpected = sorted(set(params) - set(state)), sorted(set(state) - expected)
        if missing or unexpected:
            raise CheckpointError(
                f"Lite-LLM4Rec checkpoint does not match the config: missing {missing}, "
                f"unexpected {unexpected}"
            )
        with torch.no_grad():
            for name, value in state.items():
                target = self.item_cache if name == "item_cache" else params[name]
                if value.shape != target.shape:
                    raise CheckpointError(
                        f"Lite-LLM4Rec checkpoint: {name} has shape {tuple(value.shape)}, the model expects "
                        f"{tuple(target.shape)}"
                    )
                target.copy_(value)
        self._cache_valid = "item_cache" in state
