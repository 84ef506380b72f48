"""DARec's configuration (arXiv 2408.07427): context masking, collaborative injection, per-layer adapters.

What trains: the decoder LLM is frozen; trained are one bottleneck adapter per layer (serial or parallel,
``adapter_layout``), the projection of collaborative vectors to LLM tokens, a learned read-out token, the user
head and the item representation table (plus, with ``cf_run``, a projection of the frozen SASRec's item
embeddings into that table; without it, the table doubles as a jointly trained MF embedding).

The "cpu" recipe (= the defaults) budgets SmolLM2 forward+backward at ~2 prompts/s: no instruction header,
5 history items with titles cut to 16 tokens (prompts of ~150 tokens plus 6 collaborative tokens and the
read token), adapters of width 16 (~0.55M parameters over 30 layers) and 2,048 sampled prefixes per epoch.
The layout search (``search_adapter_layout``) trains each trial for one short epoch on a user sample.
"""

from __future__ import annotations

from dataclasses import dataclass

from laserrec.config import check, field

ADAPTER_TYPES = ("serial", "parallel")


@dataclass
class DARecConfig:
    llm: str = field("smollm2", "decoder LLM (frozen): smollm2 | local HF folder | cached hub name")
    dtype: str = field(
        "auto",
        "frozen LLM dtype: auto (bf16 where the CPU has native bf16) | bf16 | fp32; trained parts fp32",
    )
    max_history: int = field(5, "most recent history items written into the prompt")
    max_title_tokens: int = field(16, "item titles are cut to this many tokens")
    max_prompt_tokens: int = field(160, "text tokens of the history items per prompt; oldest items dropped")
    context_masking: bool = field(
        True, "tokens of one item attend to each other bidirectionally (False = plain causal attention)"
    )
    inject_cf: bool = field(
        True, "add the user and history-item collaborative vectors as tokens every token attends to"
    )
    cf_run: str = field(
        "",
        "frozen SASRec run giving the collaborative vectors; empty = a jointly trained MF table",
    )
    cf_history: int = field(20, "history items the collaborative model reads for the user vector")
    adapter_size: int = field(16, "bottleneck width of each layer's adapter (trained)")
    adapter_type: str = field(
        "serial", "every layer's adapter when adapter_layout is empty: serial | parallel"
    )
    adapter_layout: list[str] = field(
        [], "per-layer adapter, serial | parallel, one per LLM layer (from search_adapter_layout)"
    )
    adapter_dropout: float = field(0.1, "dropout inside the adapters")
    item_dim: int = field(128, "size of the user vector and item representations that are scored")
    hard_weight: float = field(0.1, "weight of the hard-negative InfoNCE loss added to the cross-entropy")
    hard_negatives: int = field(
        16, "hard negatives per sample (top-scoring items outside history and target)"
    )
    hard_anchor: str = field(
        "user", "hard negatives are the items most similar to: user (the model's own confusions) | target"
    )
    temperature: float = field(0.1, "temperature of the hard-negative InfoNCE (cosine similarities)")

    def __post_init__(self) -> None:
        check(self.dtype in ("auto", "bf16", "fp32"), f"dtype {self.dtype!r}: expected auto, bf16 or fp32")
        for name in (
            "max_history",
            "max_title_tokens",
            "max_prompt_tokens",
            "cf_history",
            "adapter_size",
            "item_dim",
            "hard_negatives",
        ):
            check(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        check(
            self.adapter_type in ADAPTER_TYPES,
            f"adapter_type {self.adapter_type!r}: expected serial|parallel",
        )
        bad = [a for a in self.adapter_layout if a not in ADAPTER_TYPES]
        check(not bad, f"adapter_layout holds {bad}; every entry must be serial or parallel")
        check(
            0.0 <= self.adapter_dropout < 1.0,
            f"adapter_dropout must be in [0, 1), got {self.adapter_dropout}",
        )
        check(self.hard_weight >= 0, f"hard_weight must be >= 0, got {self.hard_weight}")
        check(
            self.hard_anchor in ("user", "target"), f"hard_anchor {self.hard_anchor!r}: expected user|target"
        )
        check(self.temperature > 0, f"temperature must be > 0, got {self.temperature}")

    def layout(self, n_layers: int) -> list[str]:
        """The adapter type of each of ``n_layers`` layers."""
        if not self.adapter_layout:
            return [self.adapter_type] * n_layers
        check(
            len(self.adapter_layout) == n_layers,
            f"adapter_layout has {len(self.adapter_layout)} entries but the LLM has {n_layers} layers",
        )
        return list(self.adapter_layout)


TRAIN_DEFAULTS = {
    "batch_size": 8,
    "lr": 1e-3,
    "epochs": 4,
    "patience": 2,
    "eval_batch_size": 32,
    "samples_per_epoch": 2048,
    "grad_clip": 1.0,
    "valid_users": 1000,
}
