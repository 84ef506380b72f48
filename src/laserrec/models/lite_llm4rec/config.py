"""Lite-LLM4Rec's configuration (Wang et al., arXiv 2402.09543): item LLM, rec LLM, projection head.

What trains (the paper fine-tunes every part):
- item LLM (the backbone, reading each item's title/brand/category text): frozen with its item embeddings
  cached once (``item_llm_mode=frozen_cached``, the CPU recipe) or fine-tuned (``trainable``, fp32);
- item projection (LayerNorm + Linear, item LLM width -> recommendation width): always trained;
- recommendation LLM: a small Llama built from the ``rec_*`` fields and trained from scratch
  (``rec_llm=small``, the CPU recipe), or the pretrained backbone fed through ``inputs_embeds``, frozen or
  fine-tuned (``rec_llm=backbone``, ``rec_llm_trainable``);
- item projection head (Linear, recommendation width -> every item): always trained.

The "cpu" recipe (= the defaults): SmolLM2 encodes the catalog once, forward only (titles cut to 24 tokens;
a few minutes for the 4k items of scientific_lcrec), then each step only runs a 2-layer, 256-wide Llama over
20 cached item vectors — fast enough to use every history prefix every epoch. The "paper" recipe fine-tunes
both LLMs (fp32, each distinct item of a batch through the item LLM with gradient): hours per epoch here.
"""

from __future__ import annotations

from dataclasses import dataclass

from laserrec.config import check, field


@dataclass
class LiteLLM4RecConfig:
    llm: str = field("smollm2", "item LLM: smollm2 | minilm | local HF folder | cached hub name")
    dtype: str = field(
        "auto",
        "frozen LLM dtype: auto (bf16 where the CPU has native bf16) | bf16 | fp32; trained parts fp32",
    )
    item_llm_mode: str = field(
        "frozen_cached",
        "frozen_cached (the item LLM frozen, every item encoded once) | trainable (fine-tuned)",
    )
    item_pooling: str = field("mean", "item embedding from the item LLM's last layer: mean | last (token)")
    max_title_tokens: int = field(24, "item titles are cut to this many tokens (brand and category follow)")
    item_batch_size: int = field(64, "items per item-LLM forward when building the item cache")
    max_history: int = field(20, "most recent history items fed to the recommendation LLM")
    rec_llm: str = field(
        "small",
        "small: a Llama built from rec_* and trained from scratch | backbone: the pretrained LLM itself",
    )
    rec_llm_trainable: bool = field(
        False, "rec_llm=backbone only: fine-tune it (fp32) instead of keeping it frozen"
    )
    rec_hidden: int = field(256, "rec_llm=small: hidden size")
    rec_layers: int = field(2, "rec_llm=small: decoder layers")
    rec_heads: int = field(4, "rec_llm=small: attention heads (must divide rec_hidden)")
    rec_intermediate: int = field(512, "rec_llm=small: MLP inner size")
    dropout: float = field(0.1, "dropout on projected item embeddings and in the small rec LLM's attention")

    def __post_init__(self) -> None:
        check(self.dtype in ("auto", "bf16", "fp32"), f"dtype {self.dtype!r}: expected auto, bf16 or fp32")
        check(
            self.item_llm_mode in ("frozen_cached", "trainable"),
            f"item_llm_mode {self.item_llm_mode!r}: expected frozen_cached | trainable",
        )
        check(
            self.item_pooling in ("mean", "last"), f"item_pooling {self.item_pooling!r}: expected mean|last"
        )
        check(self.rec_llm in ("small", "backbone"), f"rec_llm {self.rec_llm!r}: expected small | backbone")
        for name in (
            "max_title_tokens",
            "item_batch_size",
            "max_history",
            "rec_hidden",
            "rec_layers",
            "rec_heads",
            "rec_intermediate",
        ):
            check(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        check(
            self.rec_hidden % self.rec_heads == 0, f"rec_heads={self.rec_heads} must divide {self.rec_hidden}"
        )
        check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def llm_trainable(self) -> bool:
        """True when some part of the pretrained LLM is fine-tuned (then it is loaded in fp32)."""
        return self.item_llm_mode == "trainable" or (self.rec_llm == "backbone" and self.rec_llm_trainable)


TRAIN_DEFAULTS = {
    "batch_size": 64,
    "lr": 1e-3,
    "weight_decay": 0.01,
    "epochs": 50,
    "patience": 5,
    "eval_batch_size": 256,
    "grad_clip": 1.0,
}
