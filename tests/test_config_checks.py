"""Every setting is checked before any work: a bad value is exit 2 and one line naming the field."""

from __future__ import annotations

import dataclasses
import json
import typing

import pytest
import yaml

from cli_run import one_line, run, train_sasrec
from laserrec.errors import ConfigError
from laserrec.models.registry import MODELS, get_spec
from laserrec.training.config import TrainConfig
from laserrec.training.runs import resolve_configs

get_spec("sasrec")  # registers the LLM models too
HUGE_INT, HUGE_FLOAT = "1000000000000", "1e12"
MISSING_DATA = "missing meta.json"  # what `train` says once every setting has been accepted


@pytest.mark.parametrize(
    "setting",
    [
        "n_heads=0",
        "threads=-1",
        "threads=100000000",
        "valid_users=-5",
        "seed=-1",
        "eval_batch_size=0",
        "samples_per_epoch=-5",
        "weight_decay=-1",
        "valid_metric=ndcg@0",
        "lr=nan",
    ],
)
def test_the_reported_bad_values_are_one_line_naming_the_field(tmp_path, toy_dir, setting):
    code, message = train_sasrec(toy_dir, tmp_path / "run", f"--{setting}")
    assert code == 2 and one_line(message), message
    assert setting.split("=")[0] in message
    assert not (tmp_path / "run").exists()  # refused before any work


def test_evaluate_an_unknown_split_is_one_line(tmp_path, toy_dir):
    assert train_sasrec(toy_dir, tmp_path / "run")[0] == 0
    code, message = run("evaluate", tmp_path / "run", "--split", "nonsense")
    assert code == 2 and one_line(message) and "'nonsense'" in message


def test_validation_selects_on_any_cutoff_it_is_given(tmp_path, toy_dir):
    code, out = train_sasrec(toy_dir, tmp_path / "run", "--epochs=2", "--valid_metric=ndcg@7")
    assert code == 0, out
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all("ndcg@7" in row for row in log)
    best = max(range(len(log)), key=lambda e: log[e]["ndcg@7"])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["best_epoch"] == best and "ndcg@7" in metrics["valid"]


# ------------------------------------------------------------------ every field of every config
def _kind(cls: type, name: str) -> object:
    return typing.get_type_hints(cls)[name]


def _values(kind: object) -> list[tuple[str, object, bool]]:
    """(label, value, on the command line?) for a wrong type, zero, a negative and a huge value."""
    if typing.get_origin(kind) is list:
        wrong = ("wrong type", {"a": 1}, False)
    elif kind is str:
        wrong = ("wrong type", [1, 2], False)
    elif kind is bool:
        wrong = ("wrong type", "maybe", True)
    else:
        wrong = ("wrong type", "abc", True)
    huge = HUGE_FLOAT if kind is float else HUGE_INT
    return [wrong, ("zero", "0", True), ("negative", "-1", True), ("huge", huge, True)]


CASES = [
    pytest.param(model, name, label, value, cli, id=f"{model}.{name}={label}")
    for model in sorted(MODELS)
    for cls in (MODELS[model].config_cls, *((TrainConfig,) if model == "sasrec" else ()))
    for name in (f.name for f in dataclasses.fields(cls))
    for label, value, cli in _values(_kind(cls, name))
]


@pytest.mark.parametrize("model,name,label,value,cli", CASES)
def test_every_field_refuses_a_bad_value_in_one_line_or_accepts_a_valid_one(
    tmp_path, model, name, label, value, cli
):
    args = ["train", "-m", model, "-d", tmp_path / "no-data", "-o", tmp_path / "run", "-q"]
    if cli:
        args.append(f"--{name}={value}")
    else:
        (tmp_path / "c.yaml").write_text(yaml.safe_dump({name: value}))
        args += ["--config", tmp_path / "c.yaml"]
    code, message = run(*args)  # any exception but a LaserrecError fails the test: a traceback
    assert code == 2 and one_line(message), message
    if MISSING_DATA in message:  # accepted: then it is a valid value of the config itself
        resolve_configs(model, {name: value}, {}, None)
    else:
        assert name in message, message
        with pytest.raises(ConfigError):
            resolve_configs(model, {name: value}, {}, None)


def test_the_command_itself_exits_2_with_one_line_on_stderr(tmp_path, toy_dir):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "laserrec", "train", "-m", "sasrec", "-d", toy_dir, "-o", tmp_path / "r"]
    done = subprocess.run([*map(str, cmd), "--seed=-1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == ["error: seed must be in [0, 4294967295], got -1"]


def test_a_model_too_large_for_memory_is_one_line(tmp_path, toy_dir):
    code, message = train_sasrec(toy_dir, tmp_path / "run", f"--hidden_size={HUGE_INT}")
    assert code == 2 and one_line(message) and "not enough memory" in message
