"""Devices: the one helper (``laserrec.device``), every entry point taking ``device`` and the code paths run
with it given explicitly on the CPU, and gradient checkpointing of the frozen LLM."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import laserrec
from cli_run import run
from laser_fixtures import HISTORY, TARGET, make
from laserrec.device import autocast, frozen_llm_dtype, resolve_device
from laserrec.errors import ConfigError
from laserrec.models.base import Batch
from laserrec.training.loading import evaluate_run
from laserrec.training.runs import train_run

SRC = Path(laserrec.__file__).parent
SASREC = {"hidden_size": 16, "n_heads": 2, "inner_size": 32, "max_len": 8, "epochs": 1, "batch_size": 8}
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")


def test_only_the_device_helper_names_cuda_or_mps():
    pattern = re.compile(r"\.cuda\(|torch\.cuda\b|torch\.mps\b|torch\.backends\.mps")
    hits = [
        f"{path.relative_to(SRC)}:{n}"
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "device.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not hits, hits


def test_device_names():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ConfigError, match="expected auto"):
        resolve_device("tpu")
    with pytest.raises(ConfigError, match="expected auto"):
        resolve_device("gpu:0")


@NO_CUDA
def test_a_missing_gpu_is_one_clear_error(toy_dir, tmp_path):
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        resolve_device("cuda:1")
    code, message = run("train", "-m", "sasrec", "-d", toy_dir, "-o", tmp_path / "r", "--device", "cuda")
    assert code == 2 and "no CUDA GPU" in message and not (tmp_path / "r").exists()


def test_bf16_autocast_is_for_the_frozen_llm_on_cuda_only():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert frozen_llm_dtype("auto", cuda) == torch.bfloat16
    assert frozen_llm_dtype("fp32", cuda) is None and frozen_llm_dtype("auto", cpu) is None
    with autocast(cpu):
        assert not torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_train_evaluate_and_load_with_the_device_given(toy_dir, tmp_path):
    out = tmp_path / "sasrec"
    train_run("sasrec", toy_dir, out, overrides=SASREC, progress=False, device="cpu")
    metrics = evaluate_run(out, progress=False, device="cpu")
    rec = laserrec.load(out, device="cpu")
    assert rec.device == torch.device("cpu") == rec.net.device and rec.index.vectors.device == rec.device
    assert rec.recommend(["i1", "i2"], k=3)
    code, listed = run("recommend", out, "--history", "i1,i2", "--device", "cpu", "--format", "json")
    assert code == 0 and "i" in listed
    assert metrics["users"] == 40


def test_laser_follows_its_device_and_keeps_the_trainable_parts_fp32(backbone):
    net = make(backbone).to_device(torch.device("cpu"))
    assert net.device == torch.device("cpu")
    assert all(p.dtype == torch.float32 for p in net.parameters() if p.requires_grad)
    loss, _ = net.calculate_loss(Batch(HISTORY, TARGET))
    assert loss.device == net.device and torch.isfinite(loss)


def test_grad_checkpointing_gives_the_same_loss_and_gradients(backbone):
    def step(checkpointed: bool):
        net = make(backbone, seed=3)
        if checkpointed:
            net.checkpoint_frozen_llm()
        net.train()
        loss, _ = net.calculate_loss(Batch(HISTORY, TARGET))
        loss.backward()
        return loss.detach(), {n: p.grad for n, p in net.named_parameters() if p.grad is not None}

    plain_loss, plain = step(False)
    ckpt_loss, ckpt = step(True)
    assert torch.allclose(plain_loss, ckpt_loss, atol=1e-6) and plain.keys() == ckpt.keys() and plain
    assert all(torch.allclose(plain[n], ckpt[n], atol=1e-6) for n in plain)


def test_grad_checkpointing_is_refused_by_a_model_without_it(toy_dir, tmp_path):
    with pytest.raises(ConfigError, match="does not support it"):
        train_run(
            "sasrec",
            toy_dir,
            tmp_path / "r",
            overrides={**SASREC, "grad_checkpointing": True},
            progress=False,
        )
