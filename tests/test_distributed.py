"""torchrun on the CPU (gloo, 2 processes) against one process.

- Evaluation and item encoding are split by batches and all-gathered: the ranks, metrics and item matrix
  of 2 processes equal one process's exactly (``torch.equal``, ``==``).
- Training: 2 processes on the same seed and global batch end where one process does, within float
  round-off: each rank's share of the batch, DDP's average, the same optimizer step. Dropout is off, as
  its random masks cannot match across process counts; with it on the runs agree only statistically.
  Every valid and test metric agrees within 1e-6 (measured: equal); the weights within 1e-5 (SASRec,
  measured 1.4e-7) and 1e-3 (Laser, measured 1.2e-4; max abs). Laser runs with ``lb_weight=0``: the
  load-balancing loss is a product of two batch means, so a half batch's is not half the batch's.
- ``--resume`` under torchrun continues a run cut by its time budget to its end, rank 0 alone writing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SASREC_SET = {"hidden_size": 16, "n_heads": 2, "inner_size": 32, "max_len": 8, "batch_size": 8}
NO_DROPOUT = {"dropout": 0.0, "attn_dropout": 0.0}
LASER_SET = {
    "dtype": "fp32",
    "phase1_epochs": 1,
    "phase2_epochs": 1,
    "samples_per_epoch": 24,
    "batch_size": 6,
    "max_history": 3,
    "d_model": 16,
    "n_heads": 2,
    "n_blocks": 2,
    "dropout": 0.0,
    "lb_weight": 0.0,
    "valid_users": 0,
}


# Adam divides by the gradient's own running size, so round-off in a near-zero gradient moves a weight by
# up to lr per step: a bound on round-off, not on a systematic difference (a wrong loss weighting or a
# missed all-reduce moves weights by ~1e-2 here).
WEIGHT_GAP = {"sas": 1e-5, "laser": 1e-3}


def torchrun(*args: object, n: int = 2, ok: bool = True, timeout: int = 300) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node=n ARGS`` with this checkout's laserrec, one thread each;
    with ``ok`` it must succeed."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")]),
        "OMP_NUM_THREADS": "1",
        "TQDM_DISABLE": "1",
    }
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}"]
    done = subprocess.run([*cmd, *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0 or not ok, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def cli_args(values: dict) -> list[str]:
    return [f"--{k}={v}" for k, v in values.items()]


def weights(run: Path) -> dict:
    return torch.load(run / "best.pt", weights_only=False)["model"]


def max_gap(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def test_evaluation_and_item_encoding_equal_one_process_exactly(tmp_path):
    import dist_worker

    torch.set_num_threads(1)
    alone = dist_worker.results()
    torchrun(ROOT / "tests" / "dist_worker.py", tmp_path / "two.pt")
    two = torch.load(tmp_path / "two.pt", weights_only=False)
    assert two["world"] == 2
    for name in ("sasrec", "laser"):
        assert torch.equal(two[name]["ranks"], alone[name]["ranks"])
        assert two[name]["metrics"] == alone[name]["metrics"]  # every float, exactly
        assert two[name]["metrics"]["users"] == 37  # no padded duplicate counted
    assert torch.equal(two["item_matrix"], alone["item_matrix"])
    assert two["item_matrix"][1:].abs().sum(1).min() > 0  # every row encoded by some rank


def test_an_error_on_one_rank_ends_the_run_with_that_error():
    # The failing rank leaves without the end-of-command barrier (rank 0 waits in a collective call that
    # rank 1 never joins; with the barrier both would wait forever): torchrun stops rank 0 and reports.
    done = torchrun(ROOT / "tests" / "dist_worker.py", "--fail-on-rank-1", ok=False, timeout=120)
    assert done.returncode != 0
    assert "ValueError: rank 1 failed" in done.stderr


@pytest.fixture(scope="module")
def one_and_two(tmp_path_factory, tiny_llama):
    """SASRec and Laser trained by one process (here) and by two (torchrun), same seed and settings."""
    from conftest import make_data
    from laserrec.training.runs import train_run

    root = tmp_path_factory.mktemp("dist")
    data = make_data(n_users=41).save(root / "toy")
    sasrec = {**SASREC_SET, **NO_DROPOUT, "epochs": 3}
    train_run("sasrec", data, root / "sas1", overrides=sasrec, progress=False)
    torchrun(
        "-m", "laserrec", "train", "-m", "sasrec", "-d", data, "-o", root / "sas2", "-q", *cli_args(sasrec)
    )
    laser = {**LASER_SET, "llm": tiny_llama, "cf_run": str(root / "sas1")}
    train_run("laser", data, root / "laser1", overrides=laser, recipe="paper-cpu", progress=False)
    torchrun(
        "-m", "laserrec", "train", "-m", "laser", "-d", data, "-o", root / "laser2", "-q",
        "--recipe", "paper-cpu", "--device", "cpu", *cli_args(laser),
    )  # fmt: skip
    return root


@pytest.mark.parametrize("model", ["sas", "laser"])
def test_two_processes_train_as_one_within_round_off(one_and_two, model):
    one, two = one_and_two / f"{model}1", one_and_two / f"{model}2"
    assert max_gap(weights(one), weights(two)) < WEIGHT_GAP[model]
    m1, m2 = (json.loads((run / "metrics.json").read_text()) for run in (one, two))
    assert m1["best_epoch"] == m2["best_epoch"] and m1["epochs_run"] == m2["epochs_run"]
    for split in ("valid", "test"):
        for key, value in m1[split].items():
            if isinstance(value, float) and key != "seconds":
                assert abs(value - m2[split][key]) < 1e-6, (split, key)
    log1, log2 = ((run / "log.jsonl").read_text().splitlines() for run in (one, two))
    assert len(log1) == len(log2)
    assert (two / "index" / "manifest.json").is_file()


def test_resume_under_torchrun_continues_a_cut_run_to_its_end(one_and_two):
    data, run = one_and_two / "toy", one_and_two / "cut"
    settings = cli_args({**SASREC_SET, "epochs": 40, "patience": 50})
    torchrun("-m", "laserrec", "train", "-m", "sasrec", "-d", data, "-o", run, "-q", *settings,
             "--max_train_minutes=0.005")  # fmt: skip
    cut = torch.load(run / "last.pt", weights_only=False)
    assert cut["state"]["stopped_by"] == "time budget" and cut["state"]["global_epoch"] < 40
    assert len(cut["rng_by_rank"]) == 2  # every rank's random state
    done = torchrun("-m", "laserrec", "train", "-o", run, "--resume", "-q", "--max_train_minutes=0")
    assert done.stdout.count("run saved in") == 1  # rank 0 alone reports
    state = torch.load(run / "last.pt", weights_only=False)["state"]
    assert state["global_epoch"] == 40 and state["stopped_by"] == ""
    assert len((run / "log.jsonl").read_text().splitlines()) == 40
    assert not list(run.glob(".*.tmp"))


def test_the_batch_shares_of_the_ranks_make_the_global_batch():
    from conftest import make_data
    from laserrec.data.dataset import leave_one_out
    from laserrec.training.samples import SampleSet

    samples = SampleSet(leave_one_out(make_data(n_users=23)).train, "sequence", 8, seed=1)
    whole = list(samples.shards(0, 5))
    parts = [list(samples.shards(0, 5, rank=r, world=3)) for r in range(3)]
    for step, (_, batch, share) in enumerate(whole):
        assert share == 1.0
        rows = [p[step][1] for p in parts if p[step][2] > 0]
        assert torch.equal(torch.cat([b.history for b in rows]), batch.history)  # same rows, same width
        assert abs(sum(p[step][2] for p in parts) - 1.0) < 1e-12
        targets = [int((p[step][1].target > 0).sum()) for p in parts if p[step][2] > 0]
        assert [p[step][2] for p in parts if p[step][2] > 0] == [t / sum(targets) for t in targets]
