"""Laser: a frozen LLM bi-tuned through a collaborative prefix (M-Former) and a learned suffix token.

Paper: "Bi-Tuning with Collaborative Information for Controllable LLM-based Sequential Recommendation"
(Laser). User and item embeddings come from one prompt template, ``[prefix | prompt tokens | suffix]``
through the frozen LLM, read at the suffix; items are ranked by cosine. Training is item-item
contrastive against the whole item matrix (no gradient); phase 1 re-encodes the matrix at every epoch
start and keeps the best validation epoch, phase 2 keeps that matrix fixed and trains on.

Deviations:
- Sizes: the field defaults are CPU sizes (``paper-cpu``); the ``paper`` recipe holds the published ones.
- The prompt is cut to a token budget (``max_history``, ``max_title_tokens``, ``max_prompt_tokens``).
- An item with no title is written from what it has (see ``models/prompt.py``).
- laserrec's additions (warm-up, sampled negatives, the repeat offset, distillation, centring) are not
  here: they live in ``LaserPlus`` (``plus.py``), which this class does not know about.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from laserrec import distributed
from laserrec.data.dataset import ItemText
from laserrec.device import autocast
from laserrec.errors import CheckpointError, ConfigError
from laserrec.llm.backbone import Backbone, checkpoint_layers, freeze, place_backbone
from laserrec.models.base import Batch, CollaborativeEncoder, Recommender, format_parameters
from laserrec.models.laser.config import LaserConfig
from laserrec.models.laser.inputs import attention_and_positions, join, layout, pool
from laserrec.models.laser.parts import build_mformer, suffix_start
from laserrec.models.prompt import PromptBuilder, item_list
from laserrec.models.unseen import UnseenItems


class Laser(Recommender):
    train_mode = "prefix"
    scoring = "cosine"
    phases: tuple[int, ...] = (1, 2)  # the training phases this class knows

    def __init__(
        self,
        config: LaserConfig,
        n_items: int,
        item_texts: list[ItemText],
        backbone: Backbone,
        cf: CollaborativeEncoder | None = None,
    ) -> None:
        super().__init__()
        self.config, self.n_items = config, n_items
        if config.needs_cf and cf is None:
            raise ConfigError("Laser with an M-Former prefix needs a trained ID model (cf)")
        self.attach_frozen_cf(cf)
        self.backbone = freeze(backbone.model)
        # A plain function, not a module attribute: the compiled wrapper is not a second copy of the weights.
        self._run_backbone = torch.compile(self.backbone.forward, dynamic=True) if config.compile else None
        self.kind = backbone.kind
        self.prompts = PromptBuilder(
            backbone.tokenizer,
            item_list(item_texts, n_items),
            config.max_history,
            config.max_title_tokens,
            config.max_prompt_tokens,
            end_token=config.pooling == "eos",
        )
        hidden = backbone.hidden_size
        emb_std = backbone.input_embeddings().weight.float().std().item()
        self.n_prefix = config.n_prefix if config.use_prefix else 0
        self.mformer = build_mformer(config, cf, hidden, emb_std) if config.uses_mformer else None
        learned = config.use_prefix and config.prefix_source == "learned"
        self.prefix_embeddings = (
            nn.Parameter(torch.randn(config.n_prefix, hidden) * emb_std) if learned else None
        )
        n_suffix = config.n_virtual_suffix
        self.suffix = nn.Parameter(suffix_start(backbone, n_suffix, emb_std)) if n_suffix else None
        self.register_buffer("item_matrix", torch.zeros(n_items + 1, hidden))  # unit rows; row 0 = padding
        self.phase = 1
        self._has_matrix = False
        self._dirty = True

    def describe_parameters(self) -> str:
        return format_parameters(*self.parameter_counts())

    def to_device(self, device: torch.device) -> Laser:
        """The trainable parts move as they are (fp32); the frozen LLM becomes bf16 on CUDA (dtype=auto)
        and uses the GPU's attention."""
        place_backbone(self.backbone, self.config.dtype, device)
        return super().to_device(device)

    def checkpoint_frozen_llm(self) -> None:
        checkpoint_layers(self.backbone)

    # ------------------------------------------------------------------ encoding
    def _prefix(
        self, c: torch.Tensor | None, mask: torch.Tensor | None, b: int
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Output: prefix (B, L, H) fp32 or None, load-balancing loss (scalar)."""
        if self.mformer is not None:
            prefix, lb, _ = self.mformer(c, mask)
            return prefix, lb
        zero = torch.zeros((), device=self.device)
        if self.prefix_embeddings is not None:
            return self.prefix_embeddings.expand(b, *self.prefix_embeddings.shape), zero  # (B, L, H)
        return None, zero

    def _hidden(self, prompts: list[list[int]], c, mask):
        """Input: B prompts, C (B, N, d_c) and its mask (B, N) (or None).
        Output: last hidden states (B, T, H), slot kinds (B, T), LB loss."""
        prefix, lb = self._prefix(c, mask, len(prompts))
        n_suffix = 0 if self.suffix is None else self.suffix.shape[0]
        ids, kinds = layout(
            prompts, self.n_prefix, n_suffix, self.config.padding_side, mark_last=self.config.pooling == "eos"
        )
        device = self.item_matrix.device
        ids, kinds = ids.to(device), kinds.to(device)
        embeds = join(self.backbone.get_input_embeddings()(ids), kinds, prefix, self.suffix)  # (B, T, H)
        attention, positions = attention_and_positions(kinds)
        with autocast(device):  # the frozen LLM only (bf16 on CUDA); the trainable parts stay fp32
            out = (self._run_backbone or self.backbone)(
                inputs_embeds=embeds, attention_mask=attention, position_ids=positions, use_cache=False
            )
        return out.last_hidden_state, kinds, lb

    def _forward(self, prompts: list[list[int]], c, mask) -> tuple[torch.Tensor, torch.Tensor]:
        """Output: (B, H) fp32 embeddings (read as config.pooling says), LB loss."""
        hidden, kinds, lb = self._hidden(prompts, c, mask)
        return pool(hidden, kinds, self.config.pooling), lb

    def _user_states(self, history: torch.Tensor):
        """C for users: the frozen ID model's sequence states at the prompt's items (cf_input=states) or
        its embeddings of those items (cf_input=items). Output: (B, N, d_c), mask (B, N) (or None)."""
        if self.mformer is None:
            return None, None
        recent = history[:, -self.config.max_history :]  # (B, N)
        return self._cf_states(history, recent)

    def _cf_states(self, history: torch.Tensor, recent: torch.Tensor):
        """The ID model's vectors at the ``recent`` (B, N) positions of ``history`` (B, T), no gradient."""
        with torch.no_grad():
            if self.config.cf_input == "items":
                c = self.cf.item_states(recent.reshape(-1)).view(*recent.shape, -1)  # (B, N, d_c)
            else:
                c = self.cf.sequence_states(history)[:, -recent.shape[1] :]  # (B, N, d_c)
        known = self.cf.known(recent) if isinstance(self.cf, UnseenItems) else recent > 0
        return c.float(), known

    def _user_inputs(self, history: torch.Tensor):
        return [self.prompts.build(row) for row in history.tolist()], *self._user_states(history)

    def _item_inputs(self, ids: torch.Tensor):
        """Prompts of single items and their C: the ID model's item embedding (B, 1, d_c)."""
        prompts = [self.prompts.build([i]) for i in ids.tolist()]
        if self.mformer is None:
            return prompts, None, None
        with torch.no_grad():
            c = self.cf.item_states(ids).float()  # (B, 1, d_c)
        return prompts, c, torch.ones(c.shape[:2], dtype=torch.bool, device=c.device)

    def _encode_users(self, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._forward(*self._user_inputs(history))

    def encode_users(self, history: torch.Tensor) -> torch.Tensor:
        """Input: (B, T) left-padded item ids. Output: (B, H) float32 user embeddings."""
        return self._encode_users(history)[0]

    def encode_items(self, ids: torch.Tensor) -> torch.Tensor:
        """Input: (B,) item ids. Output: (B, H) float32 item embeddings (an item = a history of one)."""
        return self._forward(*self._item_inputs(ids))[0]

    # ------------------------------------------------------------------ item matrix and phases
    def refresh_item_matrix(self, batch_size: int | None = None) -> None:
        """Re-encode every item (no grad, eval mode), shortest prompts first to cut padding. Under torchrun
        each rank encodes its share of the batches and the rows are all-gathered (every rank calls it)."""
        batch_size = batch_size or self.config.encode_batch_size
        order = sorted(range(1, self.n_items + 1), key=lambda i: len(self.prompts.item_line_ids[i]))
        batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
        mine = distributed.my_share(len(batches))
        was_training = self.training
        self.eval()
        with torch.inference_mode(), self.catalog_bar() as bar:
            for j in mine:
                ids = torch.tensor(batches[j], device=self.item_matrix.device)
                self.item_matrix[ids] = self.encode_items(ids)
                bar.update(len(ids) * distributed.world())
            distributed.fill_rows(self.item_matrix, [i for j in mine for i in batches[j]])
            self._store_items()
        self.train(was_training)
        self._has_matrix, self._dirty = True, False

    def _unit_items(self, items: torch.Tensor) -> torch.Tensor:
        """Item embeddings (N, H) as rows of the matrix: unit vectors."""
        return F.normalize(items, dim=-1)

    def _store_items(self) -> None:
        """The encoded rows of the item matrix become what is scored."""
        self.item_matrix[1:] = self._unit_items(self.item_matrix[1:])

    def add_items(self, texts: list[ItemText]) -> None:
        """Append items n_items + 1, ... from their text: their prompt lines, and rows of the item matrix
        encoded as the trained model encodes any item (the weights do not change). For M-Former's input
        on items the ID model never saw, see ``models/unseen.py``."""
        self.prepare_for_eval()  # the rows already there are current
        first, n_known = self.n_items + 1, self.n_items
        self.prompts.extend(texts)
        self.n_items += len(texts)
        self.item_matrix = torch.cat(
            [self.item_matrix, self.item_matrix.new_zeros(len(texts), self.item_matrix.shape[1])]
        )
        if self.cf is not None and not isinstance(self.cf, UnseenItems):
            object.__setattr__(self, "cf", UnseenItems(self.cf, n_known))
        was_training = self.training
        self.eval()
        with torch.inference_mode():
            new = torch.arange(first, self.n_items + 1, device=self.item_matrix.device)
            for ids in new.split(self.config.encode_batch_size):
                self.item_matrix[ids] = self._unit_items(self.encode_items(ids))
        self.train(was_training)

    @property
    def history_len(self) -> int:
        """The prompt shows max_history items; the frozen ID model reads as many as it was trained on."""
        cf_len = getattr(getattr(self.cf, "config", None), "max_len", 0)
        return max(self.config.max_history, cf_len)

    def phase_schedule(self, epochs: int) -> list[tuple[int, int]]:  # noqa: ARG002 - phases set their own
        """Phase 1 (items re-encoded every epoch), phase 2 (item matrix fixed), as the switches allow."""
        c = self.config
        return [(p, n) for p, n, on in ((1, c.phase1_epochs, c.phase1), (2, c.phase2_epochs, c.phase2)) if on]

    def set_phase(self, phase: int) -> None:
        """1: items re-encoded at every epoch start; 2: the matrix stays (encoded once if it never was)."""
        if phase not in self.phases:
            raise ConfigError(f"Laser phase must be one of {self.phases}, got {phase}")
        self.phase = phase
        if phase == 2 and not self._has_matrix:
            self.refresh_item_matrix()

    def on_epoch_start(self, epoch: int) -> None:
        """Phase 1 scores against the whole matrix: re-encode it if the weights moved."""
        if self.phase == 1 and (self._dirty or not self._has_matrix):
            self.refresh_item_matrix()

    def prepare_for_eval(self) -> None:
        """Re-encode items if the weights changed since the last encoding, except in phase 2."""
        if not self._has_matrix or (self.phase != 2 and self._dirty):
            self.refresh_item_matrix()

    # ------------------------------------------------------------------ loss and scores
    def _scored_users(self, h: torch.Tensor) -> torch.Tensor:
        """Read-outs (B, H) as scored: unit vectors (cosine against the unit item rows)."""
        return F.normalize(h, dim=-1)

    def catalog_embeddings(self) -> torch.Tensor:
        """Every item's embedding as scored (n_items + 1, H), row 0 (padding) zero."""
        return self.item_matrix

    def item_vectors(self) -> tuple[torch.Tensor, None]:
        self.prepare_for_eval()
        return self.catalog_embeddings(), None

    def user_vectors(self, history: torch.Tensor) -> torch.Tensor:
        return self._scored_users(self.encode_users(history))

    def calculate_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """IIC = cross-entropy of cos(h_u, candidates) / tau against the target, plus lambda * LB."""
        h, lb = self._encode_users(batch.history)
        logits, column, ids, lb = self._candidates(self._scored_users(h), batch, lb)
        loss = F.cross_entropy(logits, column)
        logs = {"iic": loss.item()}
        loss = loss + self._extra_loss(batch, logits, ids, logs)
        if self.config.use_lb_loss and self.mformer is not None:
            loss = loss + self.config.lb_weight * lb
        self._dirty = True
        return loss, {**logs, "lb": lb.item()}

    def _candidates(self, users: torch.Tensor, batch: Batch, lb: torch.Tensor):
        """The paper's candidates: every item of the fixed (no-grad) matrix.
        Output: logits (B, N), each user's target column (B,), candidate ids (None = the catalog), LB."""
        if not self._has_matrix:
            self.refresh_item_matrix()
        return users @ self.item_matrix[1:].T / self.config.temperature, batch.target - 1, None, lb

    def _extra_loss(self, batch: Batch, logits: torch.Tensor, ids, logs: dict) -> torch.Tensor | float:
        """Terms beyond the paper's loss (none here; see ``LaserPlus``)."""
        return 0.0

    def full_sort_predict(self, batch: Batch) -> torch.Tensor:
        """Cosine score of every item. Output: (B, n_items + 1), column 0 = -inf."""
        with torch.no_grad():
            scores = self._scored_users(self.encode_users(batch.history)) @ self.catalog_embeddings().T
        scores[:, 0] = float("-inf")
        return scores

    # ------------------------------------------------------------------ checkpoints
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Only the trained weights and the item matrix (the frozen LLM and ID model are rebuilt)."""
        state = {n: p.detach().clone() for n, p in self.named_parameters() if p.requires_grad}
        state["item_matrix"] = self.item_matrix.clone()
        return state

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        expected = self.trainable_state_dict()
        missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        if missing or unexpected:
            raise CheckpointError(
                f"Laser checkpoint does not match the config: missing {missing}, unexpected {unexpected}"
            )
        params = dict(self.named_parameters())
        with torch.no_grad():
            for name, value in state.items():
                if value.shape != expected[name].shape:
                    raise CheckpointError(
                        f"Laser checkpoint: {name} has shape {tuple(value.shape)}, the model "
                        f"expects {tuple(expected[name].shape)}"
                    )
                (params[name] if name in params else getattr(self, name)).copy_(value)
        # a saved matrix matches the saved weights; an all-zero one was never encoded
        self._has_matrix = bool(self.item_matrix[1:].abs().sum() > 0)
        self._dirty = not self._has_matrix
