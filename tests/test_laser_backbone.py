"""Backbone loading: kind detection, freezing, disabled train(), local folders and clear errors."""

import pytest
import torch
from transformers import BertConfig, GPT2Config, LlamaConfig, T5Config

from laserrec.errors import ConfigError
from laserrec.llm import backbone as backbone_module
from laserrec.llm.backbone import load_backbone, model_kind, resolve_dtype
from tiny_backbones import build_tiny_backbone, save_tiny_backbone


def test_model_kind_from_config():
    assert model_kind(LlamaConfig(architectures=["LlamaForCausalLM"])) == "decoder"
    assert model_kind(LlamaConfig(architectures=["LlamaModel"])) == "decoder"
    assert model_kind(GPT2Config(architectures=["GPT2LMHeadModel"])) == "decoder"
    assert model_kind(BertConfig(architectures=["BertModel"])) == "encoder"
    with pytest.raises(ConfigError, match="encoder-decoder"):
        model_kind(T5Config())


@pytest.mark.parametrize("kind", ["llama", "gpt2", "bert"])
def test_tiny_backbones_are_frozen_base_models_whose_train_is_a_no_op(kind):
    bb = build_tiny_backbone(kind)
    assert not any(p.requires_grad for p in bb.model.parameters())
    assert not hasattr(bb.model, "lm_head")
    bb.model.train()
    assert not bb.model.training and not any(m.training for m in bb.model.modules())


def test_local_folder_round_trip(tmp_path):
    bb = build_tiny_backbone("llama")
    loaded = load_backbone(save_tiny_backbone(tmp_path, "llama"), dtype="bf16")
    assert (loaded.kind, loaded.hidden_size, loaded.dtype) == ("decoder", 32, torch.bfloat16)
    assert not any(p.requires_grad for p in loaded.model.parameters())
    emb = loaded.model.get_input_embeddings().weight
    assert torch.equal(emb, bb.model.get_input_embeddings().weight.to(torch.bfloat16))


def test_unknown_llm_name_is_a_config_error_naming_it(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(ConfigError, match="no-such-llm-xyz") as err:
        load_backbone("no-such-llm-xyz")
    assert "smollm2" in str(err.value)  # the accepted forms are listed
    with pytest.raises(ConfigError, match="does not exist"):
        load_backbone("./missing/folder")


def test_folder_without_config_and_bad_dtype_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="no config.json"):
        load_backbone(str(tmp_path))
    with pytest.raises(ConfigError, match="fp16"):
        load_backbone("minilm", dtype="fp16")


@pytest.mark.parametrize("native", [True, False])
def test_auto_dtype_is_bf16_only_where_the_cpu_has_native_bf16(tmp_path, monkeypatch, native):
    monkeypatch.setattr(backbone_module, "native_bf16", lambda: native)
    expected = "bf16" if native else "fp32"
    assert resolve_dtype("auto") == expected
    assert (resolve_dtype("bf16"), resolve_dtype("fp32")) == ("bf16", "fp32")  # an explicit choice stands
    assert load_backbone(save_tiny_backbone(tmp_path, "bert")).dtype == backbone_module.DTYPES[expected]
