"""A run is tied to its inputs by hash (the dataset, the --cf run's checkpoint) and finds them when moved."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from cli_run import SASREC, one_line, run, train_sasrec
from conftest import make_data
from laserrec.pipeline import compare
from laserrec.training.runs import train_run

DAREC = dict(  # with "llm": the tiny_llama fixture's folder
    dtype="fp32",
    item_dim=16,
    adapter_size=4,
    epochs=1,
    batch_size=8,
    samples_per_epoch=16,
    eval_batch_size=64,
)


def replace_files(src: Path, dst: Path) -> None:
    """What `laserrec prepare` of other raw data into the same folder leaves there: other files."""
    for name in ("meta.json", "sequences.npz", "items.jsonl"):
        shutil.copyfile(src / name, dst / name)


def test_evaluate_and_resume_refuse_a_dataset_re_prepared_in_place(tmp_path):
    data = make_data().save(tmp_path / "data")
    assert train_sasrec(data, tmp_path / "run")[0] == 0
    replace_files(make_data(seed=5).save(tmp_path / "other"), data)
    code, message = run("evaluate", tmp_path / "run")
    assert code == 2 and one_line(message) and "content hash" in message
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["data_hash"]
    now = json.loads((data / "meta.json").read_text())["content_hash"]
    assert recorded[:16] in message and now[:16] in message
    code, message = run("train", "--out", tmp_path / "run", "--resume", "-q")
    assert code == 2 and recorded[:16] in message and now[:16] in message
    code, out = run("evaluate", tmp_path / "run", "--accept-changed")
    assert code == 0 and json.loads(out)["split"] == "test"


def test_a_run_refuses_a_replaced_cf_checkpoint(tmp_path, toy_dir, tiny_llama):
    assert train_sasrec(toy_dir, tmp_path / "sas")[0] == 0
    assert train_sasrec(toy_dir, tmp_path / "sas_other", "--seed=7")[0] == 0
    train_run(
        "darec",
        toy_dir,
        tmp_path / "darec",
        overrides=dict(DAREC, llm=tiny_llama, cf_run=str(tmp_path / "sas")),
    )
    shutil.copyfile(tmp_path / "sas_other" / "best.pt", tmp_path / "sas" / "best.pt")
    code, message = run("evaluate", tmp_path / "darec")
    assert code == 2 and one_line(message) and "checkpoint hash" in message
    recorded = json.loads((tmp_path / "darec" / "config.json").read_text())["cf_run"]["checkpoint"]
    assert recorded[:16] in message
    assert run("evaluate", tmp_path / "darec", "--accept-changed")[0] == 0
    code, message = run("compare", "--data", toy_dir, "--out", tmp_path, "--models", "darec")
    assert code == 2 and "checkpoint hash" in message  # compare does not reuse it either


def test_compare_refuses_runs_of_another_dataset_or_of_another_model(tmp_path, toy_dir):
    settings = {"sasrec": {"hidden_size": 16, "inner_size": 32, "max_len": 8, "epochs": 1, "batch_size": 8}}
    compare(toy_dir, tmp_path / "cmp", ["sasrec"], settings, progress=False)
    other = make_data(seed=3).save(tmp_path / "other")
    code, message = run("compare", "--data", other, "--out", tmp_path / "cmp", "--models", "sasrec")
    assert code == 2 and "another dataset" in message
    shutil.copytree(tmp_path / "cmp" / "sasrec", tmp_path / "cmp" / "bert4rec")
    code, message = run("compare", "--data", toy_dir, "--out", tmp_path / "cmp", "--models", "bert4rec")
    assert code == 2 and "holds a sasrec run, not bert4rec" in message


def test_a_relative_cf_and_a_moved_folder_of_runs_still_evaluate(tmp_path, toy_dir, monkeypatch, tiny_llama):
    work = tmp_path / "work"
    (work / "runs").mkdir(parents=True)
    monkeypatch.chdir(work)
    assert train_sasrec(toy_dir, Path("runs/sas"))[0] == 0
    train_run("darec", toy_dir, Path("runs/darec"), overrides=dict(DAREC, llm=tiny_llama, cf_run="runs/sas"))
    monkeypatch.chdir(tmp_path)
    code, out = run("evaluate", work / "runs" / "darec")
    assert code == 0, out
    expected = json.loads(out)["ndcg@10"]
    shutil.move(work / "runs", tmp_path / "moved")  # the run and its --cf run, together
    code, out = run("evaluate", tmp_path / "moved" / "darec")
    assert code == 0, out
    assert json.loads(out)["ndcg@10"] == expected


def test_evaluate_data_re_points_a_run_at_its_moved_dataset(tmp_path):
    data = make_data().save(tmp_path / "data")
    assert train_sasrec(data, tmp_path / "run")[0] == 0
    shutil.move(data, tmp_path / "elsewhere")
    code, message = run("evaluate", tmp_path / "run")
    assert code == 2 and "--data" in message
    code, out = run("evaluate", tmp_path / "run", "--data", tmp_path / "elsewhere")
    assert code == 0, out
    assert run("evaluate", tmp_path / "run")[0] == 0  # the new place is remembered
    other = make_data(seed=9).save(tmp_path / "other")
    code, message = run("evaluate", tmp_path / "run", "--data", other)
    assert code == 2 and "content hash" in message


def test_a_copied_folder_of_data_and_runs_reads_its_own_copy(tmp_path):
    data = make_data().save(tmp_path / "a" / "data")
    assert train_sasrec(data, tmp_path / "a" / "run", *SASREC)[0] == 0
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "a" / "data")  # only the copy's dataset is left
    code, out = run("evaluate", tmp_path / "b" / "run")
    assert code == 0, out
