"""Laser: a frozen LLM bi-tuned through a collaborative prefix (M-Former) and a learned suffix token.

User and item embeddings come from one prompt template: ``[prefix | prompt tokens | suffix]`` through the
frozen LLM, read at the suffix. Training is item-item contrastive: the user embedding against the whole
(fixed, no-grad) item matrix. Phase 1 re-encodes the item matrix at every epoch start; phase 2 keeps it.
An optional warm-up before phase 1 (phase 0) fits the suffix output to the LLM's own mean pooling of the
same prompt, so contrastive training starts from a usable embedding (see ``LaserConfig.warmup_epochs``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from laserrec.data.dataset import ItemText
from laserrec.errors import CheckpointError, ConfigError
from laserrec.llm.backbone import Backbone, freeze
from laserrec.models.base import Batch, CollaborativeEncoder, Recommender, format_parameters
from laserrec.models.laser.config import LaserConfig
from laserrec.models.laser.distill import distill_kl
from laserrec.models.laser.inputs import attention_and_positions, join, layout, pool
from laserrec.models.laser.parts import build_mformer, identity, suffix_start
from laserrec.models.prompt import PromptBuilder, item_list
from laserrec.models.repeat import repeat_parameter, take_offset


class Laser(Recommender):
    train_mode = "prefix"

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
            raise ConfigError("Laser with an M-Former prefix or distill > 0 needs a trained ID model (cf)")
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
        prefix_std = 0.0 if config.prefix_start == "zero" else emb_std
        self.prefix_embeddings = (
            nn.Parameter(torch.randn(config.n_prefix, hidden) * prefix_std) if learned else None
        )
        n_suffix = config.n_virtual_suffix
        self.suffix = (
            nn.Parameter(suffix_start(backbone, n_suffix, emb_std, config.suffix_init)) if n_suffix else None
        )
        heads = (identity(hidden), identity(hidden)) if config.head else (None, None)
        self.user_head, self.item_head = heads
        self.repeat_bias = repeat_parameter(config)
        self.register_buffer("item_matrix", torch.zeros(n_items + 1, hidden))  # unit rows; row 0 = padding
        self.register_buffer("item_mean", torch.zeros(hidden))  # subtracted with config.center
        self.register_buffer("user_mean", torch.zeros(hidden))
        self.phase = 1
        self._has_matrix = False
        self._dirty = True

    def describe_parameters(self) -> str:
        return format_parameters(*self.parameter_counts())

    # ------------------------------------------------------------------ encoding
    def _prefix(
        self, c: torch.Tensor | None, mask: torch.Tensor | None, b: int
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Output: prefix (B, L, H) fp32 or None, load-balancing loss (scalar). The warm-up (phase 0) holds
        the prefix fixed (no gradient): see ``_warmup_loss``."""
        zero = torch.zeros(())
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.phase != 0):
            if self.mformer is not None:
                prefix, lb, _ = self.mformer(c, mask)
                return prefix, lb
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
        embeds = join(self.backbone.get_input_embeddings()(ids), kinds, prefix, self.suffix)  # (B, T, H)
        attention, positions = attention_and_positions(kinds)
        out = (self._run_backbone or self.backbone)(
            inputs_embeds=embeds, attention_mask=attention, position_ids=positions, use_cache=False
        )
        return out.last_hidden_state, kinds, lb

    def _forward(self, prompts: list[list[int]], c, mask) -> tuple[torch.Tensor, torch.Tensor]:
        """Output: (B, H) fp32 embeddings (read as config.pooling says), LB loss."""
        hidden, kinds, lb = self._hidden(prompts, c, mask)
        return pool(hidden, kinds, self.config.pooling), lb

    def _user_states(self, history: torch.Tensor):
        """C for users, over the last max_history positions (the prompt items): the frozen ID model's
        sequence states there (cf_input=states), the item embeddings of those items (cf_input=items), or
        only the last state, the one the ID model scores the next item with (cf_input=last)."""
        if self.mformer is None:
            return None, None
        recent = history[:, -(1 if self.config.cf_input == "last" else self.config.max_history) :]  # (B, N)
        with torch.no_grad():
            if self.config.cf_input == "items":
                c = self.cf.item_states(recent.reshape(-1)).view(*recent.shape, -1)  # (B, N, d_c)
            else:
                c = self.cf.sequence_states(history)[:, -recent.shape[1] :]  # (B, N, d_c)
        return c.float(), recent > 0

    def _user_inputs(self, history: torch.Tensor):
        return [self.prompts.build(row) for row in history.tolist()], *self._user_states(history)

    def _item_inputs(self, ids: torch.Tensor):
        """Prompts of single items and their C: the ID model's item embedding (B, 1, d_c)."""
        prompts = [self.prompts.build([i]) for i in ids.tolist()]
        if self.mformer is None:
            return prompts, None, None
        with torch.no_grad():
            c = self.cf.item_states(ids).float()  # (B, 1, d_c)
        return prompts, c, torch.ones(c.shape[:2], dtype=torch.bool)

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
        """Re-encode every item (no grad, eval mode), shortest prompts first to cut padding."""
        batch_size = batch_size or self.config.encode_batch_size
        order = sorted(range(1, self.n_items + 1), key=lambda i: len(self.prompts.item_line_ids[i]))
        was_training = self.training
        self.eval()
        with torch.inference_mode(), self.catalog_bar() as bar:
            for start in range(0, len(order), batch_size):
                ids = torch.tensor(order[start : start + batch_size])
                self.item_matrix[ids] = self.encode_items(ids)
                bar.update(len(ids))
            if self.config.center:
                self.item_mean.copy_(self.item_matrix[1:].mean(0))
            self.item_matrix[1:] = self._unit_items(self.item_matrix[1:])
        self.train(was_training)
        self._has_matrix, self._dirty = True, False

    @property
    def history_len(self) -> int:
        """The prompt shows max_history items; the frozen ID model reads as many as it was trained on."""
        cf_len = getattr(getattr(self.cf, "config", None), "max_len", 0)
        return max(self.config.max_history, cf_len)

    def phase_schedule(self, epochs: int) -> list[tuple[int, int]]:  # noqa: ARG002 - phases set their own
        """Warm-up (phase 0, if on), phase 1 (items re-encoded every epoch), phase 2 (item matrix fixed)."""
        c = self.config
        phases = (
            (0, c.warmup_epochs, c.warmup_epochs > 0 and c.pooling == "suffix"),
            (1, c.phase1_epochs, c.phase1),
            (2, c.phase2_epochs, c.phase2),
        )
        return [(p, n) for p, n, on in phases if on]

    def param_groups(self, phase: int, lr: float) -> list[dict]:
        """The warm-up runs at warmup_lr; M-Former's inside (queries, blocks, router, memory projection)
        at mformer_lr_scale times the phase's lr, everything else (its output projection, the suffix, a
        plain prefix, the heads) at the phase's lr."""
        lr, scale = (self.config.warmup_lr if phase == 0 else lr), self.config.mformer_lr_scale
        if self.mformer is None or scale == 1:  # one group: runs saved before the option resume as they were
            return super().param_groups(phase, lr)
        inner = {id(p) for p in self.mformer.inner_parameters()}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in inner]
        return [{"params": rest, "lr": lr}, {"params": self.mformer.inner_parameters(), "lr": lr * scale}]

    def set_phase(self, phase: int) -> None:
        """0: suffix warm-up; 1: items re-encoded at every epoch start; 2: the matrix stays (encoded once
        if it never was)."""
        if phase not in (0, 1, 2):
            raise ConfigError(f"Laser phase must be 0 (warm-up), 1 or 2, got {phase}")
        self.phase = phase
        if phase == 2 and not self._has_matrix:
            self.refresh_item_matrix()

    def on_epoch_start(self, epoch: int) -> None:
        """Phase 1 scores against the whole matrix: re-encode it (not needed with sampled negatives)."""
        if self.phase == 1 and self.config.negatives == 0 and (self._dirty or not self._has_matrix):
            self.refresh_item_matrix()

    def prepare_for_eval(self) -> None:
        """Re-encode items if the weights changed since the last encoding, except in phase 2."""
        if not self._has_matrix or (self.phase != 2 and self._dirty):
            self.refresh_item_matrix()

    # ------------------------------------------------------------------ loss and scores
    def _unit_items(self, items: torch.Tensor) -> torch.Tensor:
        """Item embeddings (N, H) as rows of the matrix: minus the catalog mean with config.center, unit."""
        return F.normalize(items - self.item_mean if self.config.center else items, dim=-1)

    def _scored_items(self, unit_items: torch.Tensor) -> torch.Tensor:
        """Rows of the matrix (N, H) as scored: through the item head (config.head) and unit again."""
        return unit_items if self.item_head is None else F.normalize(self.item_head(unit_items), dim=-1)

    def _scored_users(self, h: torch.Tensor) -> torch.Tensor:
        """Read-outs (B, H) as scored: centred (config.center), unit, through the user head, unit again."""
        users = F.normalize(self._centred_users(h), dim=-1)
        return users if self.user_head is None else F.normalize(self.user_head(users), dim=-1)

    def catalog_embeddings(self) -> torch.Tensor:
        """Every item's embedding as scored (n_items + 1, H), row 0 (padding) zero; saved with a run."""
        if self.item_head is None:
            return self.item_matrix  # already as scored; no copy per evaluation batch
        with torch.no_grad():
            items = self._scored_items(self.item_matrix[1:])
        return torch.cat([torch.zeros_like(items[:1]), items])

    def _centred_users(self, h: torch.Tensor) -> torch.Tensor:
        """With config.center: h - the running mean of training users' embeddings (updated by training
        steps, 0.9 / 0.1, set by the first one); otherwise h unchanged. Input/output: (B, H)."""
        if not self.config.center:
            return h
        if self.training and torch.is_grad_enabled():
            batch_mean = h.detach().mean(0)
            unset = not bool(self.user_mean.any())
            self.user_mean.copy_(batch_mean if unset else 0.9 * self.user_mean + 0.1 * batch_mean)
        return h - self.user_mean

    def calculate_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """IIC = cross-entropy of cos(h_u, every item) / tau against the target, plus lambda * LB (with
        fresh_targets, in phase 1, plus the in-batch term of ``_in_batch_logits``; with distill, plus
        ``distill_kl``). With negatives > 0, phase 1's IIC is over the batch's targets and sampled
        items encoded now (``_in_batch_logits``)."""
        if self.phase == 0:
            return self._warmup_loss(batch)
        sampled = self.phase == 1 and self.config.negatives > 0
        whole = not sampled or self.config.distill_catalog  # some term scores the whole matrix
        if whole and not self._has_matrix:
            self.refresh_item_matrix()
        h, lb = self._encode_users(batch.history)
        users = self._scored_users(h)
        items = self._scored_items(self.item_matrix[1:]) if whole else None
        catalog = self._repeat(users @ items.T, batch.history) / self.config.temperature if whole else None
        if sampled:
            newest = batch.history[:, batch.history.shape[1] - self.config.history_negatives :]  # (B, S)
            logits, column, ids, item_lb = self._in_batch_logits(users, batch.target, newest)
            logits = self._repeat(logits, batch.history, ids, 1 / self.config.temperature)
            lb = (lb + item_lb) / 2
        else:
            logits, column, ids = catalog, batch.target - 1, None
        iic = F.cross_entropy(logits, column)
        logs = {"iic": iic.item()}
        if self.config.fresh_targets and self.phase == 1 and not sampled:
            in_batch, in_column, _, item_lb = self._in_batch_logits(users, batch.target)
            in_batch = F.cross_entropy(in_batch, in_column)
            iic, lb, logs["in_batch"] = iic + in_batch, (lb + item_lb) / 2, in_batch.item()
        if self.config.distill > 0:
            scored = (catalog, None) if self.config.distill_catalog else (logits, ids)  # the KL's items
            with torch.no_grad():
                teacher = self.cf.full_sort_predict(batch)  # (B, N + 1)
            seen = batch.history if self.config.distill_unseen else None
            kl = distill_kl(teacher, *scored, self.config.distill_temperature, seen)
            iic, logs["distill"] = iic + self.config.distill * kl, kl.item()
        use_lb = self.config.use_lb_loss and self.mformer is not None
        loss = iic + self.config.lb_weight * lb if use_lb else iic
        self._dirty = True
        return loss, {**logs, "lb": lb.item()}

    def _repeat(
        self, scores: torch.Tensor, history: torch.Tensor, ids=None, scale: float = 1.0
    ) -> torch.Tensor:
        """``take_offset`` with this model's b and catalog (scores unchanged without config.repeat_bias)."""
        return take_offset(scores, history, self.repeat_bias, self.n_items, ids, scale)

    def _in_batch_logits(
        self, users: torch.Tensor, targets: torch.Tensor, seen: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Users against the batch's target items; given ``seen`` (B, S history items, 0 = padding),
        also against those and config.negatives items drawn uniformly from the catalog; all shared by the
        batch and encoded now, with gradient (the stale matrix never trains the item side directly).
        Input: unit users (B, H), targets (B,). Output: logits cos / tau (B, U), each user's target
        column (B,), the U candidate item ids, the items' LB loss."""
        drawn = torch.randint(1, self.n_items + 1, (0 if seen is None else self.config.negatives,))
        seen = drawn[:0] if seen is None else seen[seen > 0]
        ids, inverse = torch.cat([targets, drawn, seen]).unique(return_inverse=True)  # (U,), (B + ...,)
        items, lb = self._forward(*self._item_inputs(ids))
        logits = users @ self._scored_items(self._unit_items(items)).T / self.config.temperature  # (B, U)
        return logits, inverse[: len(targets)], ids, lb

    def _warmup_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Warm-up: 1 - cos(suffix output, the same forward's mean over prompt tokens (no grad)), over the
        batch's user prompts and its target items' prompts.

        An untrained suffix reads an anisotropic state (every item at cosine ~0.9 to every other) while
        the frozen LLM's mean pooling already ranks well; fitting one to the other first gives the
        contrastive phases a usable start instead of spending their steps finding one. Only the suffix
        trains: the target is the same forward's mean pooling, so a prefix that moves moves the target too
        (at the warm-up's lr, M-Former did, and validation fell epoch by epoch: see docs/laser-status.md).
        """
        gaps = []
        for prompts, c, mask in (self._user_inputs(batch.history), self._item_inputs(batch.target)):
            hidden, kinds, _ = self._hidden(prompts, c, mask)
            target = pool(hidden, kinds, "mean").detach()
            gaps.append(1 - F.cosine_similarity(pool(hidden, kinds, "suffix"), target, dim=-1))
        gap = torch.cat(gaps).mean()
        self._dirty = True
        return gap, {"cos_gap": gap.item()}

    def full_sort_predict(self, batch: Batch) -> torch.Tensor:
        """Cosine score of every item. Output: (B, n_items + 1), column 0 = -inf."""
        with torch.no_grad():
            scores = self._scored_users(self.encode_users(batch.history)) @ self.catalog_embeddings().T
            scores[:, 1:] = self._repeat(scores[:, 1:], batch.history)  # (B, n + 1)
        scores[:, 0] = float("-inf")
        return scores

    # ------------------------------------------------------------------ checkpoints
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Only the trained weights and the item matrix (the frozen LLM and ID model are rebuilt)."""
        state = {n: p.detach().clone() for n, p in self.named_parameters() if p.requires_grad}
        state["item_matrix"] = self.item_matrix.clone()
        if self.config.center:
            state["item_mean"], state["user_mean"] = self.item_mean.clone(), self.user_mean.clone()
        return state

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        expected = self.trainable_state_dict()
        missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        if missing or unexpected:
            raise CheckpointError(
                f"Laser checkpoint does not match the config: missing {missing}, unexpected {unexpected}"
            )
        params, buffers = dict(self.named_parameters()), ("item_matrix", "item_mean", "user_mean")
        with torch.no_grad():
            for name, value in state.items():
                if value.shape != expected[name].shape:
                    raise CheckpointError(
                        f"Laser checkpoint: {name} has shape {tuple(value.shape)}, the model "
                        f"expects {tuple(expected[name].shape)}"
                    )
                (getattr(self, name) if name in buffers else params[name]).copy_(value)
        # a saved matrix matches the saved weights; an all-zero one was never encoded
        self._has_matrix = bool(self.item_matrix[1:].abs().sum() > 0)
        self._dirty = not self._has_matrix
