"""--resume applies what is safe to change and refuses the rest by name; a run folder is never a dead end."""

from __future__ import annotations

import json

import pytest
import torch

from cli_run import SASREC, one_line, run, train_sasrec
from conftest import make_data
from laserrec.training import trainer as trainer_mod


@pytest.fixture
def cut_run(tmp_path, toy_dir, monkeypatch):
    """A SASRec run stopped by its time budget after 3 steps (a clock of 10 s per step, 0.5 minutes)."""
    monkeypatch.setattr(trainer_mod.Trainer, "_elapsed", lambda self: 10.0 * self.state.global_step)
    code, out = train_sasrec(
        toy_dir, tmp_path / "run", "--epochs=3", "--batch_size=4", "--max_train_minutes=0.5"
    )
    assert code == 0, out
    return tmp_path / "run"


class Killed(Exception):
    """The process dying (kill -9) before training wrote anything."""


def killed(self, resume=False):
    raise Killed


def resume(run_dir, *args) -> tuple[int, str]:
    model = [] if "-m" in args else ["-m", "sasrec"]  # --model may be given again (it must match)
    return run("train", *model, "--out", run_dir, "--resume", "-q", *args)


def steps(run_dir) -> int:
    return torch.load(run_dir / "last.pt", weights_only=False)["state"]["global_step"]


def test_resume_applies_safe_changes_and_says_so(cut_run):
    assert steps(cut_run) == 3
    code, out = resume(cut_run, "--max_train_minutes=1", "--threads=1")
    assert code == 0, out
    assert "max_train_minutes 0.5 -> 1.0 (applied)" in out and "threads 0 -> 1 (applied)" in out
    assert steps(cut_run) == 6  # the new budget let it go on
    saved = json.loads((cut_run / "config.json").read_text())["train"]
    assert saved["max_train_minutes"] == 1.0 and saved["threads"] == 1


@pytest.mark.parametrize(
    "args,named",
    [
        (["--lr=0.5"], "lr (0.001 -> 0.5)"),
        (["--hidden_size=32"], "hidden_size (16 -> 32)"),
        (["--batch_size=8", "--epochs=9"], "batch_size (4 -> 8)"),
        (["-m", "bert4rec"], "holds a sasrec run"),
    ],
)
def test_resume_refuses_other_changes_by_name(cut_run, args, named):
    before = (cut_run / "config.json").read_text()
    code, message = resume(cut_run, *args)
    assert code == 2 and one_line(message) and named in message
    assert (cut_run / "config.json").read_text() == before and steps(cut_run) == 3


def test_resume_refuses_another_dataset_by_its_hash(cut_run, tmp_path):
    other = make_data(seed=4).save(tmp_path / "other")
    code, message = resume(cut_run, "--data", other)
    assert code == 2 and "content hash" in message


def test_a_run_killed_before_its_first_checkpoint_starts_again(tmp_path, toy_dir, monkeypatch):
    monkeypatch.setattr(trainer_mod.Trainer, "fit", killed)
    with pytest.raises(Killed):
        train_sasrec(toy_dir, tmp_path / "run")
    monkeypatch.undo()
    assert (tmp_path / "run" / "config.json").exists() and not (tmp_path / "run" / "last.pt").exists()
    code, out = resume(tmp_path / "run")
    assert code == 0, out
    assert "no checkpoint yet" in out and (tmp_path / "run" / "metrics.json").exists()


def test_train_again_into_a_folder_whose_run_never_wrote_a_checkpoint(tmp_path, toy_dir, monkeypatch):
    monkeypatch.setattr(trainer_mod.Trainer, "fit", killed)
    with pytest.raises(Killed):
        train_sasrec(toy_dir, tmp_path / "run")
    monkeypatch.undo()
    code, out = train_sasrec(toy_dir, tmp_path / "run", "--epochs=2")
    assert code == 0, out
    assert "never wrote a checkpoint" in out
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["epochs"] == 2
    code, message = train_sasrec(toy_dir, tmp_path / "run")  # now it has checkpoints: refused
    assert code == 2 and "--resume" in message


def test_a_setting_the_model_cannot_use_is_refused_before_any_folder_is_made(tmp_path, toy_dir):
    code, message = train_sasrec(toy_dir, tmp_path / "run", "--train_on=heldout")  # not for ID models
    assert code == 2 and "train_on=heldout" in message
    assert not (tmp_path / "run").exists()
    code, out = train_sasrec(toy_dir, tmp_path / "run", *SASREC)
    assert code == 0, out


def rows(run_dir) -> list[dict]:
    """log.jsonl without the clock: what two runs of the same settings must agree on."""
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    clock = ("train_seconds", "seconds")
    return [{k: v for k, v in json.loads(line).items() if k not in clock} for line in lines]


def test_a_refused_resume_leaves_config_json_as_it_was(tmp_path, toy_dir):
    code, out = train_sasrec(toy_dir, tmp_path / "run")
    assert code == 0, out
    before = (tmp_path / "run" / "config.json").read_text()
    last = tmp_path / "run" / "last.pt"
    data = bytearray(last.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    last.write_bytes(bytes(data))
    code, message = resume(tmp_path / "run", "--epochs=2")
    assert code == 2 and "damaged" in message
    assert (tmp_path / "run" / "config.json").read_text() == before


def test_a_finished_run_given_more_epochs_trains_them_as_one_run_would(tmp_path, toy_dir):
    code, out = train_sasrec(toy_dir, tmp_path / "short")
    assert code == 0, out
    assert len(rows(tmp_path / "short")) == 1
    code, out = resume(tmp_path / "short", "--epochs=3")
    assert code == 0, out
    assert "epochs 1 -> 3 (applied)" in out
    code, out = train_sasrec(toy_dir, tmp_path / "whole", "--epochs=3")
    assert code == 0, out
    assert rows(tmp_path / "short") == rows(tmp_path / "whole") and len(rows(tmp_path / "whole")) == 3
    short, whole = (json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("short", "whole"))
    assert short["epochs_run"] == 3
    assert {k: v for k, v in short["test"].items() if k != "seconds"} == {
        k: v for k, v in whole["test"].items() if k != "seconds"
    }


def test_resuming_a_finished_run_says_there_is_nothing_more_to_train(tmp_path, toy_dir):
    code, out = train_sasrec(toy_dir, tmp_path / "run")
    assert code == 0, out
    code, out = resume(tmp_path / "run")
    assert code == 0, out
    assert "nothing more to train" in out and len(rows(tmp_path / "run")) == 1
