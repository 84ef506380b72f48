"""DARec: a frozen decoder LLM with per-layer adapters, context masking and collaborative tokens.

Paper: "Beyond Inter-Item Relations: Dynamic Adaption for Enhancing LLM-Based Sequential Recommendation",
arXiv 2408.07427 (2024).
One prompt per user: ``[CF tokens | item lines | READ]`` (see ``inputs.py``). The READ token's last hidden
state, through the user head, is the user vector z; items are rows of a trained representation table
(plus the projected SASRec item embedding with ``cf_run``). Loss: cross-entropy of z . r_i over all
items, plus ``hard_weight`` times an InfoNCE of the target against hard negatives (``hard_negative_loss``).
The per-layer serial/parallel choice (the paper's dynamic adaptation) is searched by
``studies/adapter_search.py`` with Optuna's TPE, a Bayesian optimiser.

Deviations:
- Hard negatives are our reading of the paper's "distinguish hard samples": the items scored most like the
  answer outside the target and the history (``hard_anchor``).
- Each search trial is one short epoch on a user sample, not a full training run, so a layout search fits a
  CPU budget; by default every layer gets a serial adapter (the paper's all-serial ablation).
- Without ``cf_run`` the collaborative vectors come from the item table itself, trained jointly (an MF
  embedding) instead of a separately trained ID model.
- The ``cpu`` recipe (the defaults) writes no instruction header, 5 history items with titles cut to 16
  tokens, and adapters of width 16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from laserrec.data.dataset import ItemText
from laserrec.device import autocast
from laserrec.errors import CheckpointError, ConfigError
from laserrec.llm.backbone import Backbone, freeze, place_backbone
from laserrec.models.base import Batch, CollaborativeEncoder, Recommender
from laserrec.models.darec.adapters import LayerAdapters, decoder_layers
from laserrec.models.darec.config import DARecConfig
from laserrec.models.darec.inputs import CF, READ, additive_mask, context_mask, layout, positions
from laserrec.models.prompt import PromptBuilder, special_tokens


def hard_negative_loss(
    user: torch.Tensor,
    items: torch.Tensor,
    target: torch.Tensor,
    history: torch.Tensor,
    n_negatives: int,
    temperature: float,
    anchor: str = "user",
) -> torch.Tensor:
    """InfoNCE of the target against its hardest negatives, on cosine similarities.

    Our reading of the paper's "distinguish hard samples": negatives are the items that look most like the
    right answer but are not — the top-``n_negatives`` items by similarity to the user vector ("user") or
    to the target item ("target"), never the target, padding or an item of the user's history.
    Input: user (B, d), items (n_items + 1, d) row 0 = padding, target (B,), history (B, T). Output: scalar.
    """
    sims = F.normalize(user, dim=-1) @ F.normalize(items, dim=-1).T  # (B, n_items + 1)
    with torch.no_grad():
        r = F.normalize(items, dim=-1)
        probe = sims.clone() if anchor == "user" else r[target] @ r.T  # (B, n_items + 1)
        probe[:, 0] = float("-inf")
        probe.scatter_(1, history, float("-inf"))
        probe.scatter_(1, target[:, None], float("-inf"))
        k = min(n_negatives, items.shape[0] - 2)
        top, neg = probe.topk(k, dim=1)  # (B, k)
    negatives = sims.gather(1, neg).masked_fill(top == float("-inf"), float("-inf"))  # too few candidates
    logits = torch.cat([sims.gather(1, target[:, None]), negatives], dim=1) / temperature  # (B, 1 + k)
    return F.cross_entropy(logits, torch.zeros_like(target))


class DARec(Recommender):
    train_mode = "prefix"

    def __init__(
        self,
        config: DARecConfig,
        n_items: int,
        item_texts: list[ItemText],
        backbone: Backbone,
        cf: CollaborativeEncoder | None = None,
    ) -> None:
        super().__init__()
        if backbone.kind != "decoder":
            raise ConfigError(f"DARec needs a decoder LLM; {backbone.name!r} is an {backbone.kind}")
        if len(item_texts) != n_items + 1:
            raise ConfigError(f"{len(item_texts)} item texts for {n_items} items (expected n_items + 1)")
        self.config, self.n_items = config, n_items
        cf = cf if config.inject_cf else None
        self.attach_frozen_cf(cf)
        self.backbone = freeze(backbone.model)
        pieces = PromptBuilder(
            backbone.tokenizer, item_texts, config.max_history, config.max_title_tokens, 10**9
        )
        self.number_ids, self.line_ids = pieces.number_ids, pieces.item_line_ids
        self.trail_ids = special_tokens(backbone.tokenizer)[1]
        hidden = backbone.hidden_size
        layers = decoder_layers(self.backbone)
        self.adapters = LayerAdapters(
            config.layout(len(layers)), hidden, config.adapter_size, config.adapter_dropout
        )
        emb_std = backbone.input_embeddings().weight.float().std().item()
        self.read_token = nn.Parameter(torch.randn(hidden) * emb_std)
        self.user_head = nn.Linear(hidden, config.item_dim)
        self.item_table = nn.Embedding(n_items + 1, config.item_dim)
        nn.init.normal_(self.item_table.weight, std=0.02)
        self.cf_tokens = self._cf_projection(hidden, emb_std) if config.inject_cf else None
        self.cf_score = nn.Linear(cf.hidden_size, config.item_dim) if cf is not None else None
        if cf is not None:
            with torch.no_grad():
                cf_items = cf.item_states(torch.arange(n_items + 1))[:, 0].float()  # (n_items + 1, d_cf)
            self.register_buffer("cf_items", cf_items, persistent=False)

    def _cf_projection(self, hidden: int, emb_std: float) -> nn.Module:
        """LayerNorm + Linear to the LLM width, started at the scale of the LLM's token embeddings."""
        d_cf = self.cf.hidden_size if self.cf is not None else self.config.item_dim
        proj = nn.Linear(d_cf, hidden)
        nn.init.normal_(proj.weight, std=emb_std / d_cf**0.5)
        nn.init.zeros_(proj.bias)
        return nn.Sequential(nn.LayerNorm(d_cf), proj)

    def to_device(self, device: torch.device) -> DARec:
        """The frozen LLM becomes bf16 on CUDA (dtype=auto); adapters and heads stay fp32."""
        place_backbone(self.backbone, self.config.dtype, device)
        return super().to_device(device)

    @property
    def history_len(self) -> int:
        return max(self.config.max_history, self.config.cf_history if self.config.inject_cf else 0)

    # ------------------------------------------------------------------ inputs
    def fit(self, history: list[int]) -> list[int]:
        """The most recent items that fit: at most max_history, oldest dropped until under budget."""
        kept = [i for i in history if i > 0][-self.config.max_history :]
        while len(kept) > 1 and self._text_length(kept) > self.config.max_prompt_tokens:
            kept = kept[1:]
        return kept

    def _text_length(self, items: list[int]) -> int:
        return sum(len(self.number_ids[k]) + len(self.line_ids[i]) for k, i in enumerate(items, start=1))

    def _cf_vectors(self, history: torch.Tensor, kept: list[list[int]]) -> torch.Tensor:
        """Per row the user vector, then one vector per prompt item. Output: (sum_b 1 + N_b, d_cf)."""
        recent = history[:, -self.config.cf_history :]
        flat = torch.tensor([i for items in kept for i in items], dtype=torch.long, device=history.device)
        if self.cf is not None:
            with torch.no_grad():
                users = self.cf.sequence_states(recent)[:, -1].float()  # (B, d_cf)
            items = self.cf_items[flat]
        else:  # MF: a user is the mean of its items' (trained) factors
            real = (recent > 0).unsqueeze(-1).float()  # (B, T, 1)
            users = (self.item_table(recent) * real).sum(1) / real.sum(1).clamp(min=1.0)
            items = self.item_table(flat)
        parts, start = [], 0
        for b, row in enumerate(kept):
            parts += [users[b : b + 1], items[start : start + len(row)]]
            start += len(row)
        return torch.cat(parts)

    def _inputs(self, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Output: inputs_embeds (B, T, H), 4-D additive attention mask (B, 1, T, T), position ids (B, T)."""
        kept = [self.fit(row) for row in history.tolist()]
        rows = [[self.number_ids[k] + self.line_ids[i] for k, i in enumerate(items, 1)] for items in kept]
        n_cf = [1 + len(items) if self.cf_tokens is not None else 0 for items in kept]
        ids, kinds, segments = (t.to(history.device) for t in layout(rows, n_cf, self.trail_ids))
        embeds = self.backbone.get_input_embeddings()(ids)  # (B, T, H)
        dtype = embeds.dtype
        if self.cf_tokens is not None:
            cf = self.cf_tokens(self._cf_vectors(history, kept)).to(dtype)  # (n_cf_total, H)
            embeds = embeds.masked_scatter((kinds == CF).unsqueeze(-1), cf)
        read = self.read_token.to(dtype).expand(len(kept), -1)  # (B, H)
        embeds = embeds.masked_scatter((kinds == READ).unsqueeze(-1), read)
        mask = additive_mask(context_mask(kinds, segments, self.config.context_masking), dtype)
        return embeds, mask, positions(kinds)

    # ------------------------------------------------------------------ representations
    def encode_users(self, history: torch.Tensor) -> torch.Tensor:
        """Input: (B, T) left-padded ids. Output: (B, item_dim) float32 user vectors."""
        embeds, mask, pos = self._inputs(history)
        with self.adapters.attached(decoder_layers(self.backbone)), autocast(embeds.device):
            out = self.backbone(inputs_embeds=embeds, attention_mask=mask, position_ids=pos, use_cache=False)
        return self.user_head(out.last_hidden_state[:, -1].float())  # READ is the last position

    def item_representations(self) -> torch.Tensor:
        """Output: (n_items + 1, item_dim); row 0 = padding."""
        reps = self.item_table.weight
        if self.cf_score is not None:
            reps = reps + self.cf_score(self.cf_items)
        return reps

    def item_vectors(self) -> tuple[torch.Tensor, None]:
        return self.item_representations(), None

    def user_vectors(self, history: torch.Tensor) -> torch.Tensor:
        return self.encode_users(history)

    # ------------------------------------------------------------------ loss and scores
    def calculate_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy over all items + hard_weight * hard-negative InfoNCE."""
        z = self.encode_users(batch.history)  # (B, d)
        reps = self.item_representations()  # (n_items + 1, d)
        ce = F.cross_entropy(z @ reps[1:].T, batch.target - 1)
        if self.config.hard_weight == 0:
            return ce, {"ce": ce.item()}
        c = self.config
        hard = hard_negative_loss(
            z, reps, batch.target, batch.history, c.hard_negatives, c.temperature, c.hard_anchor
        )
        return ce + c.hard_weight * hard, {"ce": ce.item(), "hard": hard.item()}

    def full_sort_predict(self, batch: Batch) -> torch.Tensor:
        """Output: (B, n_items + 1), column 0 = -inf."""
        with torch.no_grad():
            scores = self.encode_users(batch.history) @ self.item_representations().T
        scores[:, 0] = float("-inf")
        return scores

    # ------------------------------------------------------------------ checkpoints
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Only the trained weights; the frozen LLM and collaborative model are rebuilt from their sources."""
        return {n: p.detach().clone() for n, p in self.named_parameters() if p.requires_grad}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        params = {n: p for n, p in self.named_parameters() if p.requires_grad}
        missing, unexpected = sorted(set(params) - set(state)), sorted(set(state) - set(params))
        if missing or unexpected:
            raise CheckpointError(
                f"DARec checkpoint does not match the config: missing {missing}, unexpected {unexpected}"
            )
        with torch.no_grad():
            for name, value in state.items():
                if value.shape != params[name].shape:
                    raise CheckpointError(
                        f"DARec checkpoint: {name} has shape {tuple(value.shape)}, the model expects "
                        f"{tuple(params[name].shape)}"
                    )
                params[name].copy_(value)
