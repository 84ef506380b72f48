"""Laser's configuration: backbone, prompt budget, M-Former sizes, loss, schedule and ablation switches.

The "cpu" preset (the default values) budgets tokens for a 2-core machine: SmolLM2 forward+backward runs
at ~3.5 prompts/s at 128 tokens, so a prompt is kept near 200 tokens (5 most recent items, titles cut
to 24 tokens), the prefix is 4 tokens and M-Former is small (K=4 experts of 4 queries, top-2, 2 blocks,
d_m=256: about 2.5M parameters, negligible next to the LLM's forward). Epochs are short (1,024 prompts,
64 steps of 16): phase 1 re-encodes the item matrix at every epoch start, and a matrix that lags the weights
by hundreds of steps is what held training back (``benchmarks/laser_probe.py``). Four warm-up epochs come
first (see ``warmup_epochs``; not part of the paper, 0 turns them off). The "paper" preset holds the
published sizes (K=8, L=32, top-3, Z=12, d_m=768, 12 heads, 10 history items).
"""

from __future__ import annotations

from dataclasses import dataclass

from laserrec.config import check, field
from laserrec.models.repeat import check_repeat


@dataclass
class LaserConfig:
    llm: str = field("smollm2", "language model: smollm2 | minilm | local HF folder | cached hub name")
    cf_run: str = field("", "run folder of the frozen, trained SASRec/BERT4Rec whose states feed M-Former")
    dtype: str = field(
        "auto",
        "dtype of the frozen LLM: auto (bf16 where the CPU has native bf16, else fp32: emulated bf16 is "
        "hundreds of times slower) | bf16 | fp32 (trainable parts are always fp32)",
    )
    padding_side: str = field("left", "where prompts of a batch are padded: left | right")
    max_history: int = field(5, "most recent history items written into a user prompt")
    max_title_tokens: int = field(24, "item titles are cut to this many tokens")
    max_prompt_tokens: int = field(
        256, "text tokens per prompt (excluding prefix/suffix); oldest items dropped"
    )
    cf_input: str = field(
        "states",
        "M-Former's input C for a user: states (the ID model's sequence states at the prompt's items) | "
        "items (the ID model's embeddings of those items, as in the authors' data files: the same kind of "
        "vector an item's own C is) | last (not in the paper: only the state at the last position, the "
        "vector the ID model scores the next item with, in the same space as an item's own C)",
    )
    n_prefix: int = field(4, "L: prefix tokens (= queries per expert)")
    n_experts: int = field(4, "K: query experts in M-Former")
    top_k: int = field(2, "experts run per sequence")
    n_blocks: int = field(2, "Z: M-Former transformer blocks (cross-attention in blocks 0, 2, 4, ...)")
    d_model: int = field(256, "d_m: M-Former width")
    n_heads: int = field(4, "M-Former attention heads")
    dropout: float = field(0.1, "M-Former dropout (the frozen LLM never uses dropout)")
    prefix_start: str = field(
        "random",
        "start of the prefix: random (M-Former's output projection, or a plain prefix, at the scale of the "
        "LLM's token embeddings) | zero (not in the paper: the output projection, or the plain prefix, "
        "starts at zero, so the warm-up fits the suffix to the text alone and phase 1 starts from that "
        "text model; the ID model's signal then grows in along the gradient instead of as random noise). "
        "Measured worse: an untrained M-Former is a random projection of the states that already carries "
        "some of their signal, and zero-input prefix tokens hurt the text (docs/laser-status.md)",
    )
    suffix_init: str = field(
        "token",
        "start of the suffix embedding: token (the embedding of a summarising vocabulary token: [MASK] for "
        "encoders, as in PromptBERT; EOS for decoders) | random",
    )
    n_suffix: int = field(1, "suffix tokens; with several, the embedding is the mean of their outputs")
    temperature: float = field(0.05, "tau of the item-item contrastive loss")
    lb_weight: float = field(0.05, "lambda: weight of the load-balancing loss")
    mformer_lr_scale: float = field(
        1.0,
        "not in the paper: M-Former's queries, blocks, router and memory projection train at this times "
        "the lr (its output projection, the suffix and everything else at the lr); 0.1 keeps much more of "
        "the ID model's ranking in M-Former alone and raised Laser's best validation score, but not its "
        "test score (docs/laser-status.md)",
    )
    center: bool = field(
        False,
        "not in the paper: subtract the mean item embedding (of the catalog, at every item-matrix refresh) "
        "from items and a running mean of training users' embeddings from users before the cosine; a "
        "decoder's last states share large constant components, and user and item prompts sit apart in them",
    )
    fresh_targets: bool = field(
        False,
        "not in the paper: in phase 1 add an in-batch contrastive term against the batch's target items "
        "encoded with gradient, so the item side is trained directly and not only as a side effect of the "
        "user side against the stale matrix (costs one item forward + backward per target)",
    )
    negatives: int = field(
        0,
        "phase 1 as the authors' code trains it (their stage 2-1): each user against the batch's target "
        "items plus this many items drawn uniformly from the catalog (shared by the batch), all encoded "
        "with gradient at every step, so both sides train; 0 = against the whole item matrix re-encoded "
        "without gradient at every epoch start (the paper's text). Phase 2 always uses the whole matrix",
    )
    history_negatives: int = field(
        0,
        "not in the paper: with negatives > 0, each user's newest this-many history items join phase 1's "
        "candidates (hard negatives, or the positive when one is the target). The drawn items rarely "
        "include them, and the prompt holds their text, so Laser ranks them near the top: on Scientific "
        "the newest history item is never the next one, yet SASRec and Laser rank it first for 70% of "
        "test users (benchmarks/seen_items.py)",
    )
    repeat_bias: bool = field(
        False,
        "not in the paper: a learned offset b (one scalar, from 0) taken off the cosine of every item in "
        "the user's history as the model reads it: how likely the next item is one the user already has, "
        "learned from the training targets (RepeatNet's repeat-or-explore choice in its simplest form). "
        "It learns from history items among the candidates: history_negatives in phase 1, the whole "
        "catalog in phase 2",
    )
    repeat_init: float = field(0.0, "b's value before training (with repeat_bias), in cosine units")
    head: bool = field(
        False,
        "not in the paper: a linear map for users and one for items (identity at the start) between the "
        "read-out and the cosine; the matrix keeps the LLM's read-outs and the item map is applied at "
        "scoring, so in phase 1 it trains against the whole catalog, which the stale matrix never does",
    )
    distill: float = field(
        0.0,
        "not in the paper: weight of a term that fits Laser's softmax over the candidates it is trained "
        "against (phase 1 and 2) to the frozen ID model's softmax of its own scores over the same items "
        "(KL, ID model || Laser): the ID model's ranking, dot products and all, taught through the conduit "
        "directly instead of only through its states and the next-item targets. 0 = off; 1 gave the best "
        "Laser on ml-100k, and on Scientific with train_on=heldout (docs/laser-status.md)",
    )
    distill_catalog: bool = field(
        False,
        "not in the paper: with negatives > 0, take distill's KL in phase 1 over the whole catalog (the item "
        "matrix as last encoded, at every validation) and not over the batch's drawn candidates, which "
        "rarely include the items the ID model ranks near the top. Below drawn candidates on both datasets "
        "(docs/laser-status.md)",
    )
    distill_unseen: bool = field(
        False,
        "not in the paper: distill's teacher gives no mass to the items of the user's history as the model "
        "reads it (the ID model's ranking of the items that could come next): SASRec's top item on "
        "Scientific is most often the user's newest one, which never comes next there",
    )
    distill_temperature: float = field(
        1.0,
        "not in the paper: distill's teacher is the softmax of the ID model's scores divided by this; < 1 "
        "sharpens it toward the items the ID model ranks first (SASRec's softmax over the whole catalog "
        "spreads most of its mass far from the top: entropy ~6.2 nats of a possible 8.4 on Scientific; "
        "but its top-1 there is mostly the user's newest item, so sharpening it alone teaches that)",
    )
    encode_batch_size: int = field(32, "prompts per batch when encoding the item catalog (no grad)")
    compile: bool = field(
        False,
        "torch.compile the frozen backbone (dynamic shapes): on this CPU ~1.1x training and ~1.2x encoding "
        "speed after a 2-3 minute compile, so it pays on runs of more than about half an hour",
    )
    warmup_epochs: int = field(
        4,
        "epochs of suffix warm-up before phase 1 (phase 0): the suffix output is fitted (1 - cos) to the "
        "frozen LLM's mean pooling of the same user and item prompts, the prefix held fixed; 0 = off (the "
        "paper's start)",
    )
    warmup_lr: float = field(1e-2, "learning rate of the warm-up (the phases use the training lr)")
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

    def __post_init__(self) -> None:
        check(self.dtype in ("auto", "bf16", "fp32"), f"dtype {self.dtype!r}: expected auto, bf16 or fp32")
        check(
            self.padding_side in ("left", "right"), f"padding_side {self.padding_side!r}: expected left|right"
        )
        check(
            self.cf_input in ("states", "items", "last"),
            f"cf_input {self.cf_input!r}: expected states|items|last",
        )
        check(self.prefix_start in ("random", "zero"), f"prefix_start {self.prefix_start!r}: use random|zero")
        check(self.suffix_init in ("token", "random"), f"suffix_init {self.suffix_init!r}: use token|random")
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
        check(self.distill >= 0, f"distill must be >= 0, got {self.distill}")
        check(self.distill > 0 or not self.distill_catalog, "distill_catalog needs distill > 0")
        check(self.distill > 0 or not self.distill_unseen, "distill_unseen needs distill > 0")
        check(self.negatives > 0 or not self.history_negatives, "history_negatives needs negatives > 0")
        check_repeat(self)
        check(
            self.distill_temperature > 0, f"distill_temperature must be > 0, got {self.distill_temperature}"
        )
        check(self.mformer_lr_scale > 0, f"mformer_lr_scale must be > 0, got {self.mformer_lr_scale}")
        check(self.warmup_lr > 0, f"warmup_lr must be > 0, got {self.warmup_lr}")
        for name in ("warmup_epochs", "phase1_epochs", "phase2_epochs", "negatives", "history_negatives"):
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
        """Whether the frozen ID model is read: M-Former's input, or the teacher of distill."""
        return self.uses_mformer or self.distill > 0

    @property
    def n_virtual_suffix(self) -> int:
        """Learned suffix tokens actually placed: none when another pooling replaces the suffix."""
        return self.n_suffix if self.pooling == "suffix" else 0


PRESETS: dict[str, dict] = {
    "cpu": {  # = the field defaults, spelled out (its training settings are LASER_TRAIN in registry.py)
        "max_history": 5,
        "max_title_tokens": 24,
        "max_prompt_tokens": 256,
        "n_prefix": 4,
        "n_experts": 4,
        "top_k": 2,
        "n_blocks": 2,
        "d_model": 256,
        "n_heads": 4,
        "phase1_epochs": 16,
        "phase2_epochs": 4,
    },
    "paper": {
        "max_history": 10,
        "max_title_tokens": 64,
        "max_prompt_tokens": 1024,
        "n_prefix": 32,
        "n_experts": 8,
        "top_k": 3,
        "n_blocks": 12,
        "d_model": 768,
        "n_heads": 12,
        "batch_size": 16,
        "samples_per_epoch": 0,
        "phase1_epochs": 10,
        "phase2_epochs": 10,
        "patience": 3,
    },
}
