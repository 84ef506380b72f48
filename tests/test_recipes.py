"""Named settings, one mechanism: every model's recipes are YAML files beside it, a recipe may extend
another by name (an unknown base or a cycle is an error naming the file), and the main job, `compare` and
the experiment budgets name recipes instead of holding settings of their own."""

import dataclasses

import pytest

from cli_run import run
from laserrec.errors import ConfigError
from laserrec.models.registry import MODELS, ModelSpec, get_spec, read_recipes
from laserrec.studies.experiments.budget import Budget
from laserrec.studies.experiments.runner import Cell, Context
from laserrec.training.runs import resolve_configs


def write(folder, **files):
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder


def test_a_recipe_extends_another_and_its_own_keys_win(tmp_path):
    folder = write(
        tmp_path, base="a: 1\nb: 2\n", mid="extends: base\nb: 3\nc: 4\n", top="extends: mid\nc: 5\n"
    )
    spec = ModelSpec(dict, lambda c, d, f: None, recipes=read_recipes(folder))
    assert spec.recipe("top") == {"a": 1, "b": 3, "c": 5}
    assert spec.recipe_layer("top") == {"c": 5} and spec.bases("top") == ["mid", "base"]
    assert spec.recipe("base") == {"a": 1, "b": 2} and spec.bases("base") == []


def test_an_unknown_base_or_a_cycle_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"mid\.yaml: extends 'nope', which is not a recipe"):
        read_recipes(write(tmp_path / "a", mid="extends: nope\n"))
    with pytest.raises(ConfigError, match="in a cycle: one -> two -> one"):
        read_recipes(write(tmp_path / "b", one="extends: two\nx: 1\n", two="extends: one\n"))
    with pytest.raises(ConfigError, match="in a cycle: self -> self"):
        read_recipes(write(tmp_path / "c", self="extends: self\n"))


def test_every_shipped_recipe_resolves_to_settings_its_model_knows():
    get_spec("laser")  # the models reading an LLM register on first use
    named = 0
    for model, spec in MODELS.items():
        for name in spec.recipes:
            model_cfg, train_cfg = resolve_configs(model, {}, {}, name)
            for key, value in spec.recipe(name).items():  # every key lands, unchanged by the layers
                assert getattr(model_cfg, key, getattr(train_cfg, key, None)) == value, (model, name, key)
            named += 1
    assert named >= 17 and {"darec", "lite_llm4rec", "sasrec", "bert4rec"} <= {
        m for m, s in MODELS.items() if s.recipes
    }


def test_the_main_jobs_laser_is_the_default_recipe_plus_a_step_budget():
    quick, default = (resolve_configs("laser", {}, {}, r) for r in ("quickstart", None))
    changed = {
        k: v
        for part, base in zip(quick, default, strict=True)
        for k, v in dataclasses.asdict(part).items()
        if v != dataclasses.asdict(base)[k]
    }
    assert changed == {
        "warmup_epochs": 2,
        "phase1_epochs": 4,
        "phase2_epochs": 1,
        "min_epochs": 0,
        "valid_users": 300,
    }


def test_a_budget_lays_its_recipes_keys_over_the_recipe_a_cell_names(tmp_path, toy_dir):
    ctx = Context("x", toy_dir, tmp_path, Budget("cpu"))
    values, recipe = ctx.settings_of(Cell("p", "laser", {"recipe": "paper-cpu"}))
    model_cfg, train_cfg = resolve_configs("laser", {}, values, recipe)
    assert recipe == "paper-cpu" and model_cfg.llm == "smollm2"  # paper-cpu's, not laserrec's minilm
    assert (model_cfg.phase1_epochs, model_cfg.warmup_epochs, train_cfg.valid_users) == (4, 2, 300)
    short = {**Budget("cpu").settings("laser"), **Budget("cpu").short_laser()}
    assert short["phase1_epochs"] == 2 and short["warmup_epochs"] == 2
    assert Budget("paper").settings("darec") == {"recipe": "paper"} and Budget("paper").short_laser() == {}
    assert Budget("cpu").settings("darec")["test_users"] == 2000  # DARec's `experiment` recipe


def test_config_shows_any_models_recipe_with_what_it_extends():
    code, out = run("config", "laser", "--recipe", "quickstart-short")
    assert code == 0, out
    assert "recipe: quickstart-short (extends quickstart) (extends laserrec)" in out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith(" ")}
    assert rows["*phase1_epochs"] == "2" and rows["*negatives"] == "16"  # its own key and a base's
    code, out = run("config", "darec", "--recipe", "experiment")
    assert code == 0 and "recipe: experiment (extends cpu)" in out and " *test_users" in out
    code, out = run("config", "sasrec", "--recipe", "quickstart")
    assert code == 0 and " *train_mode             sequence" in out
    code, out = run("config", "sasrec", "--recipe", "nope")
    assert code == 2 and "unknown recipe 'nope' for sasrec; choose one of" in out
