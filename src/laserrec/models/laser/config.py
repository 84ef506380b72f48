"""Laser's configuration as the paper describes it: backbone, prompt budget, M-Former, loss, the two
phases and the paper's ablation switches.

The field defaults are the paper's method at CPU sizes (the ``paper-cpu`` recipe): a prompt of the 5 most
recent items with titles cut to 24 tokens, a 4-token prefix from a small M-Former (K=4 experts, top-2,
Z=2 blocks, d_m=256, 4 heads). The ``paper`` recipe holds the published sizes. laserrec's own additions
(``LaserPlusConfig``) and the recipes live beside this file (``plus.py``, ``recipes/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from laserrec.config import check, field


@dataclass
class LaserConfig:
    llm: str = field("smollm2", "language model: smollm2 | minilm | local HF folder | cached hub name")
    cf_run: str = field("", "run folder of the frozen, trained SASRec/BERT4Rec whose states feed M-Former")
    dtype: str = field("auto", "frozen LLM dtype: auto (bf16 where the CPU has native bf16) | bf16 | fp32")
    padding_side: str = field("left", "where prompts of a batch are padded: left | right")
    max_history: int = field(5, "most recent history items written into a user prompt")
    max_title_tokens: int = field(24, "item titles are cut to this many tokens")
    max_prompt_tokens: int = field(256, "text tokens per prompt (prefix/suffix excluded); oldest items go")
    cf_input: str = field(
        "states",
        "M-Former's input C: states (the ID model's states at the prompt's items) | items (their embeddings)",
    )
    n_prefix: int = field(4, "L: prefix tokens (= queries per expert)")
    n_experts: int = field(4, "K: query experts in M-Former")
    top_k: int = field(2, "experts run per sequence")
    n_blocks: int = field(2, "Z: M-Former blocks (cross-attention in blocks 0, 2, 4, ...)")
    d_model: int = field(256, "d_m: M-Former width")
    n_heads: int = field(4, "M-Former attention heads")
    dropout: float = field(0.1, "M-Former dropout (the frozen LLM never uses dropout)")
    n_suffix: int = field(1, "suffix tokens; with several, the embedding is the mean of their outputs")
    temperature: float = field(0.05, "tau of the item-item contrastive loss")
    lb_weight: float = field(0.05, "lambda: weight of the load-balancing loss")
    encode_batch_size: int = field(32, "prompts per batch when encoding the item catalog (no grad)")
    compile: bool = field(False, "torch.compile the frozen backbone (pays on runs over ~30 minutes)")
    phase1_epochs: int = field(16, "epochs of phase 1 (item matrix re-encoded at every epoch start)")
    phase2_epochs: int = field(4, "epochs of phase 2 (item matrix of the best phase-1 epoch kept fixed)")
    use_prefix: bool = field(True, "ablation: False = no prefix tokens at all")
    pooling: str = field(
        "suffix", "ablation: user/item embedding from suffix | mean (of prompt tokens) | eos"
    )
    prefix_source: str = field("mformer", "ablation: mformer | learned (a plain L x H prefix, no M-Former)")
    single_expert: bool = field(False, "ablation: one expert (K=1, top-1)")
    use_lb_loss: bool = field(True, "ablation: False = no load-balancing loss")
    phase1: bool = field(True, "ablation: False = skip phase 1 (item matrix encoded once, then fixed)")
    phase2: bool = field(True, "ablation: False = skip phase 2")

    CF_INPUTS: ClassVar[tuple[str, ...]] = ("states", "items")

    def __post_init__(self) -> None:
        check(self.dtype in ("auto", "bf16", "fp32"), f"dtype {self.dtype!r}: expected auto, bf16 or fp32")
        check(
            self.padding_side in ("left", "right"), f"padding_side {self.padding_side!r}: expected left|right"
        )
        check(
            self.cf_input in self.CF_INPUTS,
            f"cf_input {self.cf_input!r}: expected {'|'.join(self.CF_INPUTS)}",
        )
        check(
            self.pooling in ("suffix", "mean", "eos"), f"pooling {self.pooling!r}: expected suffix|mean|eos"
        )
        check(
            self.prefix_source in ("mformer", "learned"),
            f"prefix_source {self.prefix_source!r}: expected mformer|learned",
        )
        for name in (
            "max_history",
            "max_title_tokens",
            "max_prompt_tokens",
            "n_prefix",
            "n_experts",
            "top_k",
            "n_blocks",
            "d_model",
            "n_heads",
            "n_suffix",
            "encode_batch_size",
        ):
            check(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        check(self.top_k <= self.n_experts, f"top_k={self.top_k} exceeds n_experts={self.n_experts}")
        check(
            self.d_model % self.n_heads == 0,
            f"d_model={self.d_model} not divisible by n_heads={self.n_heads}",
        )
        check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")
        check(self.temperature > 0, f"temperature must be > 0, got {self.temperature}")
        check(self.lb_weight >= 0, f"lb_weight must be >= 0, got {self.lb_weight}")
        for name in ("phase1_epochs", "phase2_epochs"):
            check(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)}")
        check(self.phase1 or self.phase2, "phase1 and phase2 cannot both be off")

    @property
    def experts(self) -> tuple[int, int]:
        """(K, top-k) after the single_expert switch."""
        return (1, 1) if self.single_expert else (self.n_experts, self.top_k)

    @property
    def uses_mformer(self) -> bool:
        """Whether the prefix comes from M-Former (not ablated to none or to a plain learned prefix)."""
        return self.use_prefix and self.prefix_source == "mformer"

    @property
    def needs_cf(self) -> bool:
        """Whether the frozen ID model is read (M-Former's input)."""
        return self.uses_mformer

    @property
    def n_virtual_suffix(self) -> int:
        """Learned suffix tokens actually placed: none when another pooling replaces the suffix."""
        return self.n_suffix if self.pooling == "suffix" else 0
