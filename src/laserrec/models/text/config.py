"""Settings of the text-only recommender (``text``), shared by the text part of the late fusion."""

from __future__ import annotations

from dataclasses import dataclass

from laserrec.config import Options, check, check_range, field


@dataclass
class TextOptions(Options):
    llm: str = field(
        "minilm",
        "frozen encoder of the item lines: minilm (all-MiniLM-L6-v2) | smollm2 | a local HF folder | a "
        "hub name already in the local cache",
    )
    dtype: str = field("fp32", "the encoder's weights: fp32 | bf16 | auto (bf16 where the CPU has it)")
    window: int = field(50, "most recent history items a user's vector averages")
    decay: float = field(0.5, "weight of a history item per step of age (the newest item: 1)")
    max_tokens: int = field(128, "tokens of an item line the encoder reads (longer lines are cut)")
    encode_batch_size: int = field(128, "item lines per encoder call")


def check_text(config: TextOptions) -> None:
    """The text options' rules (every config holding them calls it from ``__post_init__``)."""
    check_range(config, ("window", "max_tokens", "encode_batch_size"), 1)
    check(0 < config.decay <= 1, f"decay must be in (0, 1], got {config.decay}")
    check(config.dtype in ("auto", "bf16", "fp32"), f"dtype {config.dtype!r}: expected auto|bf16|fp32")
    check(bool(config.llm.strip()), "llm must name an encoder (minilm, smollm2, a folder or a hub name)")


@dataclass
class TextConfig(TextOptions):
    def __post_init__(self) -> None:
        check_text(self)
