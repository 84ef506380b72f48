"""Each experiment end to end at its smallest budget on the toy dataset with tiny models; reuse, refusal,
partial results, budgets, the report."""

import json

import pytest

from conftest import make_data
from doc_tables import held, json_numbers, table_figures, tables_in
from laserrec.errors import ConfigError
from laserrec.studies.experiments import EXPERIMENTS, run_experiment
from laserrec.studies.experiments.budget import Budget, parse_budget

ID = {"hidden_size": 16, "inner_size": 32, "max_len": 8, "epochs": 2, "batch_size": 8}
SMALLEST = "minutes=0.5"


def tiny_settings(llm: str) -> dict:
    small_llm = {"llm": llm, "dtype": "fp32"}
    laser = {"d_model": 32, "n_heads": 2, "samples_per_epoch": 16, "max_history": 3, "valid_users": 0}
    laser |= {"warmup_epochs": 1, "phase1_epochs": 1, "phase2_epochs": 1}
    lite = {"max_history": 4, "rec_hidden": 16, "rec_heads": 2, "rec_intermediate": 32, "epochs": 1}
    darec = {"epochs": 1, "samples_per_epoch": 16, "valid_users": 0, "item_dim": 16, "adapter_size": 4}
    return {
        "sasrec": ID,
        "bert4rec": ID,
        "laser": small_llm | laser,
        "lite_llm4rec": small_llm | lite | {"samples_per_epoch": 32},
        "darec": small_llm | darec,
        "text": small_llm,
        "fusion": small_llm,
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from tiny_backbones import save_tiny_backbone

    root = tmp_path_factory.mktemp("experiments")
    return {
        "root": root,
        "data": make_data().save(root / "toy"),
        "target": make_data(n_users=30, n_items=25, seed=1).save(root / "toy2"),
        "settings": tiny_settings(save_tiny_backbone(root / "llm")),
        "runs": root / "runs",
    }


def experiment(world, name: str, **kw) -> str:
    kw.setdefault("runs", world["runs"] if name != "transfer" else None)
    return run_experiment(
        name,
        world["data"],
        world["root"] / name,
        SMALLEST,
        target=world["target"],
        overrides=world["settings"],
        progress=False,
        **kw,
    )


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_experiment_runs_end_to_end_at_its_smallest_budget(world, name):
    text = experiment(world, name, command=f"laserrec experiment {name} --data toy --out {name}")
    out = world["root"] / name
    payload = json.loads((out / "results.json").read_text())
    assert payload["experiment"] == name and payload["budget"] == SMALLEST and payload["rows"]
    assert all("test" in row for row in payload["rows"])
    assert text.startswith(f"# {payload['title']}")
    assert any(f"| {head} |" in text for head in ("model", "variant", "setting"))
    assert f"laserrec experiment {name}" in text and "![figure](figure.png)" in text
    figure = (out / "figure.png").read_bytes()
    assert figure[:8] == b"\x89PNG\r\n\x1a\n" and len(figure) < 200_000
    assert str(world["root"]) not in (out / "results.md").read_text()  # no path of this machine
    tables = tables_in(out / "results.md")  # each table names results.json, which holds its every figure
    source = [(out / "results.json").resolve()]
    assert tables and all(t.kind == "figures" and t.sources == source for t in tables)
    numbers = json_numbers([out / "results.json"])
    assert [f.text for t in tables for _, f in table_figures(t) if not held(f, numbers)] == []


def test_a_second_run_trains_nothing_and_gives_the_same_results(world):
    experiment(world, "cf-model")
    stamps = {p: p.stat().st_mtime_ns for p in world["runs"].glob("*/best.pt")}
    first = json.loads((world["root"] / "cf-model" / "results.json").read_text())["rows"]
    experiment(world, "cf-model")
    assert {p: p.stat().st_mtime_ns for p in world["runs"].glob("*/best.pt")} == stamps
    assert json.loads((world["root"] / "cf-model" / "results.json").read_text())["rows"] == first


def test_a_runs_folder_holding_a_cell_of_other_settings_is_refused(world):
    changed = {**world["settings"], "sasrec": {**ID, "hidden_size": 24}}
    with pytest.raises(ConfigError, match="holds a run of other settings"):
        run_experiment("cf-model", world["data"], world["root"] / "x", SMALLEST, overrides=changed,
                       progress=False, runs=world["runs"])  # fmt: skip


def test_report_gathers_every_experiment_into_markdown_and_html(world, tmp_path):
    from laserrec.studies.experiments.report import write_report

    experiment(world, "cf-model")
    experiment(world, "ablation")
    folders = [world["root"] / "cf-model", world["root"] / "ablation"]
    md = write_report(folders, tmp_path / "page" / "report.md").read_text()
    assert "## The ID model Laser reads" in md and "## Ablations of Laser" in md
    assert md.count("](../../") == 2 or md.count(".png)") == 2
    page = write_report(folders, tmp_path / "report.html").read_text()
    assert page.count("<img src='data:image/png;base64,") == 2 and page.count("<table>") >= 2
    with pytest.raises(ConfigError, match="no results.json"):
        write_report([tmp_path], tmp_path / "r.md")


def test_budgets():
    assert parse_budget("cpu") == Budget("cpu") and parse_budget("minutes=7.5") == Budget("minutes", 7.5)
    assert parse_budget("minutes=2").settings("sasrec") == {"max_train_minutes": 2.0}
    assert parse_budget("paper").settings("laser") == {"recipe": "paper"}
    assert parse_budget("cpu").settings("laser")["phase1_epochs"] == 4
    for bad in ("gpu", "minutes=0", "minutes=x", "cpu=1"):
        with pytest.raises(ConfigError, match="--budget"):
            parse_budget(bad)


def test_the_command_line_refuses_an_unknown_experiment_budget_or_a_missing_target(toy_dir, tmp_path):
    from cli_run import one_line, run

    for args, message in [
        (["nope"], "unknown experiment 'nope'"),
        (["main", "--budget", "gpu"], "--budget 'gpu'"),
        (["transfer"], "needs --target"),
    ]:
        code, out = run("experiment", args[0], "--data", toy_dir, "--out", tmp_path / "x", *args[1:], "-q")
        assert code == 2 and message in out and one_line(out), out


def test_partial_trains_nothing_and_shows_the_finished_cells_as_the_full_run_does(world, tmp_path):
    import shutil

    experiment(world, "main")  # every cell finished in world["runs"]
    full = {r["cell"]: r for r in json.loads((world["root"] / "main" / "results.json").read_text())["rows"]}
    runs = tmp_path / "runs"
    for cell in ("sasrec", "bert4rec"):  # two finished runs, moved to a runs folder of their own
        shutil.copytree(world["runs"] / cell, runs / cell)
    text = experiment(world, "main", runs=runs, partial=True)
    # nothing trained: the models with no gradient step fitted (the fusion on the finished SASRec)
    assert sorted(p.name for p in runs.iterdir()) == [
        "bert4rec",
        "fusion",
        "most_popular",
        "sasrec",
        "text_floor",
    ]
    payload = json.loads((world["root"] / "main" / "results.json").read_text())
    rows = {r["cell"]: r for r in payload["rows"]}
    for name in ("sasrec", "bert4rec", "most_popular", "text_floor", "fusion"):  # fusion reads sasrec
        assert rows[name]["test"] == full[name]["test"] and not rows[name].get("not_run")
    not_run = ["sasrec_seed2021", "sasrec_seed2022", "bert4rec_seed2021", "bert4rec_seed2022", "laser",
               "sasrec_offset", "bert4rec_offset", "laser_paper_cpu", "lite_llm4rec", "darec",
               "laser_seed2021", "laser_seed2022"]  # fmt: skip
    assert payload["partial"] is True and payload["not_run"] == not_run
    assert all(rows[name]["not_run"] and "test" not in rows[name] for name in not_run if name in rows)
    assert "| DARec (not run yet) | – | – | – |" in text and "12 cell(s) not run yet" in text
    assert set(payload["seeds"]) == {"sasrec", "bert4rec"} and payload["seeds"]["sasrec"]["seeds"] == 1
    line = next(line for line in text.splitlines() if line.startswith("| SASRec |"))
    assert (
        line
        == f"| SASRec | {full['sasrec']['test']['recall@10']:.4f} | {full['sasrec']['test']['ndcg@10']:.4f} "
        f"| {full['sasrec']['test']['mrr']:.4f} | 1 |"
    )  # one seed: no spread shown
    assert (world["root"] / "main" / "figure.png").read_bytes()[:4] == b"\x89PNG"


def test_partial_is_refused_where_an_experiment_needs_every_cell(world):
    with pytest.raises(ConfigError, match="--partial: experiment ablation .* works for: main"):
        experiment(world, "ablation", partial=True)


def test_only_trains_the_cells_named_and_shows_the_rest_that_finished(world, tmp_path):
    import shutil

    experiment(world, "main")
    full = {r["cell"]: r for r in json.loads((world["root"] / "main" / "results.json").read_text())["rows"]}
    runs = tmp_path / "runs"
    shutil.copytree(world["runs"] / "sasrec", runs / "sasrec")
    text = experiment(world, "main", runs=runs, only=["sasrec_offset"])
    assert sorted(p.name for p in runs.iterdir()) == [
        "fusion", "most_popular", "sasrec", "sasrec_offset", "text_floor"
    ]  # fmt: skip
    rows = {r["cell"]: r for r in json.loads((world["root"] / "main" / "results.json").read_text())["rows"]}
    assert rows["sasrec_offset"]["test"] == full["sasrec_offset"]["test"]  # deterministic: the same run
    assert rows["bert4rec"]["not_run"] and "| BERT4Rec (seed 2020) (not run yet) |" in text
    with pytest.raises(ConfigError, match="has no cell sasrec_ofset; its cells: most_popular"):
        experiment(world, "main", runs=runs, only=["sasrec_ofset"])
    with pytest.raises(ConfigError, match="give one of them"):
        experiment(world, "main", runs=runs, only=["sasrec"], partial=True)


def test_transfer_partial_leaves_out_the_points_not_run_and_matches_the_full_run(world, tmp_path):
    experiment(world, "transfer")
    full = json.loads((world["root"] / "transfer" / "results.json").read_text())
    again = experiment(world, "transfer", partial=True)  # every cell finished: the same figures
    payload = json.loads((world["root"] / "transfer" / "results.json").read_text())
    assert payload["series"] == full["series"] and payload["not_run"] == [] and "0 cell(s) not run" in again
    out = tmp_path / "fresh"
    text = run_experiment("transfer", world["data"], out, SMALLEST, target=world["target"],
                          overrides=world["settings"], progress=False, partial=True)  # fmt: skip
    payload = json.loads((out / "results.json").read_text())
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["target_text_floor"]  # no gradient step
    laser, floor = payload["series"][0], payload["series"][-1]
    assert laser["model"] == "laser" and laser["points"] == [None] * 6  # not even the zero-shot point
    assert floor["model"] == "text_floor" and all(p is not None for p in floor["points"])
    assert "Laser (source) not run yet" in text and "| Laser (transferred) | – | – | – | – | – | – |" in text
