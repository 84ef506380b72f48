"""``laserrec plan``: size a Laser run before renting GPUs — parameters, trainable share, memory per GPU
for weights / gradients / optimizer / activations, and time per step and per epoch at a given throughput.

Nothing is loaded or downloaded: the LLM is built from its config on PyTorch's ``meta`` device (exact
parameter counts, no memory), and so are Laser's trainable parts. The formulas, per GPU (micro-batch
b = batch / gpus, T tokens per user prompt, h hidden, i MLP width, kv the key/value width, n layers):

- weights: frozen LLM in its dtype (bf16 on CUDA: 2 bytes), trainable parts fp32 (4 bytes);
  gradients 4 bytes and AdamW 8 bytes per trainable parameter (DDP keeps a full copy on every GPU);
- activations kept for the backward pass through the frozen LLM (its weights get no gradient, but the
  prefix's gradient flows through every layer): per layer and token ``bytes * (8h + 4kv + 4i) + 8h``
  (the inputs of the projections, norms, rotary embedding and attention, the MLP's four i-wide tensors,
  and the two fp32 copies transformers' RMSNorm makes), plus ``bytes * heads * T`` for the attention
  probabilities where the attention stores them (laserrec's CPU attention; a GPU's fused SDPA does not).
  With ``grad_checkpointing``: ``bytes * h`` per layer and token, plus one layer's full set;
- the item matrix (items x h, fp32) and the contrastive logits (b x items, fp32);
- FLOPs, as ``laserrec bench`` counts them: forward = 2 N T + 4 n T^2 d_attn per prompt (N = non-embedding
  parameters), training = 2 x forward (no weight gradients), 3 x with ``grad_checkpointing`` (the
  forward is run again in the backward pass); phase 1 re-encodes the catalog each epoch.

``benchmarks/plan_check.py`` compares these figures with a real SmolLM2 run on the CPU.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from laserrec.errors import ConfigError

HEADER_TOKENS = 36  # the instruction header with SmolLM2's tokenizer (other BPE vocabularies are close)
LINE_EXTRA_TOKENS = 18  # numbering, brand and category of one history line, beside its title
TITLE_TOKENS = 32  # a title's tokens before the max_title_tokens cut (scientific_lcrec's mean)

# Architectures to size without any file (their published configs; no weights are involved).
PRESETS = {
    "llama-3.2-1b": dict(
        model_type="llama", hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=32, num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True,
    ),
    "llama-2-7b": dict(
        model_type="llama", hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
        num_attention_heads=32, num_key_value_heads=32, vocab_size=32000, tie_word_embeddings=False,
    ),
}  # fmt: skip


@dataclass
class Plan:
    llm: str
    llm_parameters: int
    llm_non_embedding: int
    trainable_parameters: int
    tokens_per_user_prompt: int
    tokens_per_item_prompt: int
    memory_gb: dict
    flops_per_step: float
    step_seconds: float
    epoch_seconds: float
    settings: dict

    @property
    def trainable_share(self) -> float:
        return self.trainable_parameters / (self.trainable_parameters + self.llm_parameters)

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "trainable_share": self.trainable_share}


def llm_config(name: str):
    """A transformers config from a preset name, a config.json file, a model folder, ``smollm2``/``minilm``
    (the packaged ones) or a hub name in the local cache."""
    from transformers import AutoConfig

    if name in PRESETS:
        values = dict(PRESETS[name])
        return AutoConfig.for_model(values.pop("model_type"), **values)
    path = Path(name).expanduser()
    if path.is_file():
        values = json.loads(path.read_text(encoding="utf-8"))
        return AutoConfig.for_model(values.pop("model_type"), **values)
    if name in ("smollm2", "minilm"):
        from laserrec.llm.backbone import packaged_folder

        path = packaged_folder(name)  # SmolLM2 converted into the cache on first use, as train does
    try:
        return AutoConfig.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError):
        raise ConfigError(
            f"--llm {name!r}: not a preset ({', '.join(PRESETS)}), a config.json, a model folder or a hub "
            "name in the local cache"
        ) from None


def count_llm(config) -> tuple[int, int]:
    """(all, non-embedding) parameters of the base model (no LM head), built on the meta device."""
    from transformers import AutoModel

    with torch.device("meta"):
        model = AutoModel.from_config(config)
    total = sum(p.numel() for p in model.parameters())
    return total, total - model.get_input_embeddings().weight.numel()


def count_trainable(model_cfg, hidden: int, cf_hidden: int) -> int:
    """Laser's trainable parameters (M-Former or a learned prefix, and the suffix) for an LLM of width
    ``hidden`` and an ID model of width ``cf_hidden``."""
    from laserrec.models.laser.parts import build_mformer

    class _CF:
        hidden_size = cf_hidden

    n = model_cfg.n_virtual_suffix * hidden
    if model_cfg.uses_mformer:
        with torch.device("meta"):
            n += sum(p.numel() for p in build_mformer(model_cfg, _CF(), hidden, 0.02).parameters())
    elif model_cfg.use_prefix:
        n += model_cfg.n_prefix * hidden
    return n


def prompt_tokens(model_cfg) -> tuple[int, int]:
    """Estimated real tokens of a user prompt and of an item prompt (prefix and suffix included)."""
    line = min(TITLE_TOKENS, model_cfg.max_title_tokens) + LINE_EXTRA_TOKENS
    virtual = (model_cfg.n_prefix if model_cfg.use_prefix else 0) + model_cfg.n_virtual_suffix
    user = min(model_cfg.max_prompt_tokens, HEADER_TOKENS + model_cfg.max_history * line)
    return user + virtual, HEADER_TOKENS + line + virtual


def forward_flops(config, non_embedding: int, tokens: int) -> float:
    d_attn = config.num_attention_heads * (
        getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    )
    return 2.0 * non_embedding * tokens + 4.0 * config.num_hidden_layers * tokens**2 * d_attn


def activation_bytes(
    config, micro_batch: int, tokens: int, dtype_bytes: int, stores_probs: bool, checkpointed: bool
) -> float:
    h, i, n = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    heads = config.num_attention_heads
    kv = getattr(config, "num_key_value_heads", heads) * (getattr(config, "head_dim", None) or h // heads)
    per_layer = (dtype_bytes * (8 * h + 4 * kv + 4 * i) + 8 * h) * micro_batch * tokens
    if stores_probs:
        per_layer += dtype_bytes * heads * tokens * tokens * micro_batch
    if checkpointed:
        return dtype_bytes * h * micro_batch * tokens * n + per_layer
    return per_layer * n


def plan(
    model_cfg,
    llm: str,
    batch: int,
    gpus: int = 1,
    tflops: float = 100.0,
    items: int = 10_000,
    samples_per_epoch: int = 0,
    cf_hidden: int = 64,
    device: str = "cuda",
    grad_checkpointing: bool = False,
    tokens: int = 0,
) -> Plan:
    """A ``Plan`` for Laser with ``model_cfg`` (a ``LaserConfig``) on ``gpus`` devices, each sustaining
    ``tflops`` TFLOP/s of model FLOPs (measured or assumed: e.g. 40% of a GPU's bf16 peak)."""
    if batch < gpus or batch < 1 or gpus < 1:
        raise ConfigError(f"--batch {batch} --gpus {gpus}: each GPU needs at least one sample")
    config = llm_config(llm)
    total, non_emb = count_llm(config)
    trainable = count_trainable(model_cfg, config.hidden_size, cf_hidden)
    user_t, item_t = prompt_tokens(model_cfg)
    user_t = tokens or user_t
    cpu = device == "cpu"
    llm_bytes = weight_bytes(model_cfg.dtype, device)
    micro = -(-batch // gpus)
    memory = {
        "frozen_llm_weights": total * llm_bytes,
        "trainable_weights": trainable * 4,
        "gradients": trainable * 4,
        "optimizer": trainable * 8,
        "activations": activation_bytes(config, micro, user_t, llm_bytes, cpu, grad_checkpointing),
        "item_matrix_and_logits": (items + 1) * config.hidden_size * 4 + micro * items * 4,
    }
    memory = {k: round(v / 1e9, 3) for k, v in memory.items()}
    memory["total"] = round(sum(memory.values()), 3)
    step_flops = (3 if grad_checkpointing else 2) * batch * forward_flops(config, non_emb, user_t)
    rate = gpus * tflops * 1e12
    samples = samples_per_epoch or 10 * items  # a catalog's worth of users, ten interactions each
    steps = -(-samples // batch)
    encode = items * forward_flops(config, non_emb, item_t) / rate
    settings = dict(batch=batch, gpus=gpus, tflops=tflops, items=items, samples_per_epoch=samples,
                    device=device, grad_checkpointing=grad_checkpointing, llm_bytes=llm_bytes)  # fmt: skip
    return Plan(
        llm, total, non_emb, trainable, user_t, item_t, memory, step_flops,
        step_flops / rate, steps * step_flops / rate + encode, settings,
    )  # fmt: skip


def weight_bytes(dtype: str, device: str) -> int:
    """Bytes per frozen-LLM weight: bf16 on CUDA or where the CPU has native bf16 (``dtype=auto``)."""
    from laserrec.llm.backbone import native_bf16

    if dtype == "auto":
        return 2 if device != "cpu" or native_bf16() else 4
    return 2 if dtype == "bf16" else 4


def describe(p: Plan) -> str:
    """The plan as a person reads it."""
    s = p.settings
    lines = [
        f"LLM {p.llm}: {p.llm_parameters:,} parameters ({p.llm_non_embedding:,} without the input "
        f"embedding), frozen, {s['llm_bytes']} bytes each",
        f"trainable: {p.trainable_parameters:,} ({100 * p.trainable_share:.3f}% of all)",
        f"tokens per prompt: user {p.tokens_per_user_prompt}, item {p.tokens_per_item_prompt} "
        "(estimated from the recipe unless --tokens is given)",
        f"memory per GPU (GB), batch {s['batch']} on {s['gpus']} GPU(s)"
        + (", gradient checkpointing" if s["grad_checkpointing"] else "")
        + ":",
    ]
    lines += [f"  {k:24s} {v:10.3f}" for k, v in p.memory_gb.items()]
    lines += [
        f"training step: {p.flops_per_step / 1e12:.2f} TFLOP; at {s['tflops']:g} TFLOP/s per GPU: "
        f"{p.step_seconds:.3f} s per step",
        f"epoch of {s['samples_per_epoch']:,} samples plus re-encoding {s['items']:,} items: "
        f"{p.epoch_seconds / 60:.1f} min",
    ]
    return "\n".join(lines)
