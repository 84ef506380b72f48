"""``benchmarks/gpu_check.py`` runs end to end in its CPU smoke mode (the GPU figures need a GPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def check(*args: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TQDM_DISABLE": "1"}
    cmd = [sys.executable, str(SCRIPT), *map(str, args)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def test_the_smoke_mode_runs_every_part_on_the_cpu(tmp_path):
    done = check("--device", "cpu", "--quick", "--out", tmp_path / "check.json")
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads((tmp_path / "check.json").read_text())
    assert found["device"] == "cpu" and found["quick"] and found["matmul_tflops_bf16"] > 0
    assert found["sasrec"]["epochs"] == 1 and found["sasrec"]["test_users"] == 80
    laser = found["laser"]
    assert laser["train_steps"] == 1 and laser["catalog_items"] == 40 and laser["full_eval_users"] == 16
    assert laser["train_mfu"] > 0 and laser["item_encode_mfu"] > 0 and laser["peak_gpu_memory_gb"] is None


def test_a_full_check_asks_for_a_gpu(tmp_path):
    done = check("--device", "cpu", "--out", tmp_path / "check.json")
    assert done.returncode == 2 and "needs a CUDA GPU" in done.stderr
