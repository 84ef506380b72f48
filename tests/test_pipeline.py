import json

import pytest

from laserrec.pipeline import compare, showcase

TINY_ID = {"hidden_size": 16, "inner_size": 32, "max_len": 8, "epochs": 2, "batch_size": 8}


def test_compare_trains_missing_runs_reuses_finished_ones_and_writes_the_table(toy_dir, tmp_path, tiny_llama):
    settings = {
        "sasrec": TINY_ID,
        "laser": {
            "llm": tiny_llama,
            "dtype": "fp32",
            "cf_run": "{out}/sasrec",
            "recipe": "paper-cpu",
            "phase1_epochs": 1,
            "phase2_epochs": 1,
            "samples_per_epoch": 16,
            "max_history": 3,
            "d_model": 32,
            "n_heads": 2,
        },
    }
    table = compare(toy_dir, tmp_path / "cmp", ["sasrec", "laser"], settings, progress=False)
    lines = table.splitlines()
    assert lines[0].startswith("| model |") and len(lines) == 4
    assert lines[2].startswith("| sasrec |") and lines[3].startswith("| laser |")
    rows = json.loads((tmp_path / "cmp" / "results.json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["sasrec", "laser"]
    assert all(r["test"]["users"] == 40 and r["inference"]["users_per_second"] > 0 for r in rows)
    assert rows[1]["inference"]["items_per_second"] > 0 and rows[0]["inference"]["items_per_second"] is None
    laser_cfg = json.loads((tmp_path / "cmp" / "laser" / "config.json").read_text())
    assert laser_cfg["model_config"]["cf_run"] == str(tmp_path / "cmp" / "sasrec")
    assert laser_cfg["recipe"] == "paper-cpu" and "recipe" not in laser_cfg["model_config"]
    assert (tmp_path / "cmp" / "laser" / "index" / "manifest.json").exists()
    shown = showcase(tmp_path / "cmp", k=3).splitlines()  # the main job's closing lines
    assert [line.split(":")[0] for line in shown if line.startswith("user ")] == ["user u0", "user u1"]
    assert sum(line.startswith("  laser top 3: ") for line in shown) == 2
    assert sum(line.startswith("  sasrec top 3: ") for line in shown) == 2
    assert shown[-1].startswith("recommend for any history: laserrec recommend ")
    stamp = (tmp_path / "cmp" / "sasrec" / "best.pt").stat().st_mtime_ns
    again = compare(toy_dir, tmp_path / "cmp", ["sasrec"], settings, progress=False)
    assert (tmp_path / "cmp" / "sasrec" / "best.pt").stat().st_mtime_ns == stamp  # reused, not retrained
    assert again.splitlines()[2] == lines[2]


def test_a_named_entry_trains_a_second_run_of_a_model_with_its_own_settings(toy_dir, tmp_path):
    settings = {"sasrec": TINY_ID, "sasrec_wide": {"hidden_size": 24}}
    table = compare(toy_dir, tmp_path / "cmp", ["sasrec", "sasrec_wide:sasrec"], settings, progress=False)
    assert table.splitlines()[3].startswith("| sasrec_wide |")
    cfg = {
        name: json.loads((tmp_path / "cmp" / name / "config.json").read_text())["model_config"]
        for name in ("sasrec", "sasrec_wide")
    }
    assert (cfg["sasrec"]["hidden_size"], cfg["sasrec_wide"]["hidden_size"]) == (16, 24)
    assert cfg["sasrec_wide"]["inner_size"] == 32  # the model's settings apply, the run's own win


def test_model_settings_applies_model_key_overrides_without_touching_the_base():
    from laserrec.errors import ConfigError
    from laserrec.pipeline import model_settings

    base = {"laser": {"cf_run": "{out}/sasrec"}}
    got = model_settings(base, ["laser.llm=minilm", "darec.adapter_size=8", "laser.cf_run=/x"])
    assert got == {"laser": {"cf_run": "/x", "llm": "minilm"}, "darec": {"adapter_size": "8"}}
    assert base == {"laser": {"cf_run": "{out}/sasrec"}}
    with pytest.raises(ConfigError, match="MODEL.KEY=VALUE"):
        model_settings(base, ["llm=minilm"])


def test_the_main_jobs_settings_resolve_for_every_model_of_its_line_up():
    from laserrec.pipeline import QUICKSTART
    from laserrec.training.runs import resolve_configs, resolve_recipe

    for model in QUICKSTART["models"]:
        settings = dict(QUICKSTART["settings"].get(model, {}))
        recipe = settings.pop("recipe", None)
        model_cfg, train_cfg = resolve_configs(model, {}, settings, recipe)
        values = {**resolve_recipe(model, recipe)[1], **settings}
        for key, value in values.items():  # every key lands in one of the two configs, unchanged
            assert getattr(model_cfg, key, getattr(train_cfg, key, None)) == value, (model, key)
    laser = resolve_configs("laser", {}, {}, QUICKSTART["settings"]["laser"]["recipe"])
    assert (laser[0].phase1_epochs, laser[1].valid_users) == (4, 300)  # the main job's step budget
