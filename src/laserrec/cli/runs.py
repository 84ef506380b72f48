"""`laserrec train`, `evaluate` and `config`: a run folder made, tested, and its settings shown."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from laserrec.cli.app import EXTRA, app, device_option, print_metrics_table
from laserrec.errors import LaserrecError


@app.command(context_settings=EXTRA)
def train(
    ctx: typer.Context,
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help="sasrec | bert4rec | laser | lite_llm4rec | darec | text | fusion | most_popular "
        "(--resume: the run's)",
    ),
    data: Path = typer.Option(None, "--data", "-d", help="prepared dataset folder (laserrec prepare)"),
    out: Path = typer.Option(..., "--out", "-o", help="run folder: config, checkpoints, logs, metrics"),
    config: Path = typer.Option(None, "--config", "-c", help="YAML/JSON file of key: value settings"),
    recipe: str = typer.Option(
        None,
        "--recipe",
        "-r",
        help="named settings of the model, files beside it (laser: laserrec [default], paper-cpu, paper, "
        "quickstart; lite_llm4rec, darec: cpu [default], paper); `laserrec config MODEL` lists them",
    ),
    cf: Path = typer.Option(
        None, "--cf", help="Laser, DARec, fusion: run folder of a trained SASRec/BERT4Rec"
    ),
    llm: str = typer.Option(
        None, "--llm", help="LLM and text models: smollm2 | minilm | local path | hub name"
    ),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out from its last checkpoint"),
    accept_changed: bool = typer.Option(
        False,
        "--accept-changed",
        help="--resume: use a dataset or --cf run whose hash differs from the run's",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
    device: str = device_option(),
) -> None:
    """Train a model; extra --key=value arguments override any config field (see `laserrec config MODEL`).

    Under `torchrun --nproc_per_node=N -m laserrec train ...` N processes train one run together."""
    if quiet:  # before tqdm is imported: it reads TQDM_* once; silences nested bars (item encoding) too
        os.environ["TQDM_DISABLE"] = "1"
    from laserrec.config import parse_overrides
    from laserrec.inference.recommender import write_index
    from laserrec.training.runs import train_run

    overrides = parse_overrides(ctx.args)
    if cf is not None:
        overrides["cf_run"] = str(cf)
    if llm is not None:
        overrides["llm"] = llm
    if not resume and (model is None or data is None):
        raise LaserrecError(
            "--model and --data are required (--data: a folder written by `laserrec prepare`)"
        )
    from laserrec import distributed

    with distributed.leaving_at_end():
        results = train_run(
            model, data, out, config, overrides, recipe, resume, not quiet, accept_changed, device,
            on_trained=write_index,  # recommend and serve start from the run's item index
        )  # fmt: skip
    if distributed.launched() and os.environ.get("RANK", "0") != "0":
        return  # rank 0 reports
    print_metrics_table([results])
    typer.echo(f"run saved in {out}")


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="run folder written by `laserrec train`"),
    split: str = typer.Option("test", help="valid | test"),
    mask_seen: bool = typer.Option(
        None,
        "--mask-seen/--no-mask-seen",
        help="exclude history items from the ranking (default: as the run was trained)",
    ),
    data: Path = typer.Option(
        None, "--data", "-d", help="the run's dataset, if it moved (checked against the run's hash)"
    ),
    cf: Path = typer.Option(None, "--cf", help="the run's --cf run, if it moved (checked by its hash)"),
    accept_changed: bool = typer.Option(
        False, "--accept-changed", help="use a dataset or --cf run whose hash differs from the run's"
    ),
    device: str = device_option(),
    by: str = typer.Option(
        None,
        "--by",
        help="popularity: metrics of users whose target is cold (bottom 35% of training counts) vs warm",
    ),
) -> None:
    """Full-ranking evaluation of a run's best checkpoint; prints and writes eval_<split>.json.
    Under torchrun the users are split across the processes (the same metrics, exactly)."""
    from laserrec import distributed
    from laserrec.training.loading import evaluate_by_popularity, evaluate_run

    if by is not None:
        if by != "popularity":
            raise LaserrecError(f"--by {by!r}: expected popularity")
        typer.echo(json.dumps(evaluate_by_popularity(run_dir, split), indent=2))
        return
    with distributed.leaving_at_end():
        metrics = evaluate_run(
            run_dir, split, mask_seen, data_dir=data, cf_run=cf, accept_changed=accept_changed, device=device
        )
    if os.environ.get("RANK", "0") == "0":
        typer.echo(json.dumps(metrics, indent=2))


@app.command("config")
def show_config(
    model: str = typer.Argument(..., help="model name"),
    recipe: str = typer.Option(
        None, "--recipe", "-r", help="show this recipe's values (default: the model's)"
    ),
) -> None:
    """List every setting of MODEL and of the trainer as a recipe resolves them, with help texts."""
    from laserrec.config import describe
    from laserrec.models.registry import get_spec
    from laserrec.training.runs import resolve_configs, resolve_recipe

    spec = get_spec(model)
    name, values = resolve_recipe(model, recipe)
    model_cfg, train_cfg = resolve_configs(model, {}, {}, name)
    bases = "".join(f" (extends {base})" for base in spec.bases(name)) if name else ""
    typer.echo(
        f"recipe: {name or 'none'}{bases}"
        + (f"   (recipes: {', '.join(spec.recipes)})" if spec.recipes else "")
    )
    for title, cfg in ((f"{model} model", model_cfg), ("training", train_cfg)):
        for section, rows in describe(type(cfg)):
            typer.echo(f"[{title}{section}]")
            for key, _, help_text in rows:
                mark = "*" if key in values else " "
                typer.echo(f" {mark}{key:22s} {getattr(cfg, key)!s:12s} {help_text}")
    if values:
        typer.echo(f"* set by the recipe {name!r}")
