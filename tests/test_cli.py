import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from laserrec import cli

runner = CliRunner()


def run(*args):
    """Invoke the CLI as `laserrec` does (errors -> one line on stderr, exit status 2)."""
    try:
        result = runner.invoke(cli.app, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout
    except cli.LaserrecError as e:
        return 2, str(e)


def write_csv_dataset(folder):
    folder.mkdir()
    rows = ["user,item,timestamp"] + [f"u{u},i{(u + k) % 7},{k}" for u in range(6) for k in range(5)]
    (folder / "interactions.csv").write_text("\n".join(rows) + "\n")
    (folder / "items.jsonl").write_text(
        "".join(json.dumps({"item": f"i{i}", "title": f"thing {i}"}) + "\n" for i in range(7))
    )


def test_prepare_train_evaluate_end_to_end(tmp_path):
    write_csv_dataset(tmp_path / "raw")
    code, out = run("prepare", str(tmp_path / "raw"), "--out", str(tmp_path / "data"))
    assert code == 0, out
    assert "6 users" in out and "7 items" in out
    code, out = run(
        "train",
        "--model",
        "sasrec",
        "--data",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "run"),
        "-q",
        "--epochs=2",
        "--hidden_size=8",
        "--inner_size=16",
        "--batch_size=4",
    )
    assert code == 0, out
    assert "Recall@10" in out
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["model_config"]["hidden_size"] == 8 and cfg["train"]["epochs"] == 2
    manifest = json.loads((tmp_path / "run" / "index" / "manifest.json").read_text())  # for recommend
    assert manifest["model"] == "sasrec" and manifest["n_items"] == 7
    code, out = run("evaluate", str(tmp_path / "run"), "--split", "valid")  # stdout is pure JSON
    assert code == 0 and json.loads(out)["split"] == "valid"
    assert (tmp_path / "run" / "eval_valid.json").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--model", "sasrec", "--data", "/nonexistent", "--out", "OUT"], "missing meta.json"),
        (["evaluate", "/nonexistent-run"], "not a run folder"),
        (["train", "--model", "sasrec", "--data", "DATA", "--out", "OUT", "--hidden_size"], "key=value"),
    ],
)
def test_user_errors_are_one_clear_line(tmp_path, args, message):
    write_csv_dataset(tmp_path / "raw")
    run("prepare", str(tmp_path / "raw"), "--out", str(tmp_path / "data"))
    args = [a.replace("OUT", str(tmp_path / "run")).replace("DATA", str(tmp_path / "data")) for a in args]
    code, out = run(*args)
    assert code == 2
    assert message in out


def test_config_lists_fields_with_help():
    code, out = run("config", "sasrec")
    assert code == 0
    assert "hidden_size" in out and "early stopping" in out


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "configs").glob("*.yaml")), ids=str)
def test_shipped_config_files_name_only_known_keys_with_valid_values(path):
    from laserrec.config import load_file
    from laserrec.training.runs import resolve_configs

    values = load_file(path)
    model_cfg, train_cfg = resolve_configs("laser", values, {}, "paper-cpu")
    resolved = {**dataclasses.asdict(model_cfg), **dataclasses.asdict(train_cfg)}
    assert values and all(resolved[k] == v for k, v in values.items())
