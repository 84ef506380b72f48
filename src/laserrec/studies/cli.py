"""The study commands: `laserrec experiment`, `report`, `search-adapters`, `plan` and `bench`.

They sit on their own Typer app, which ``laserrec.cli.app`` adds to the ``laserrec`` command only when one of
them is run or the commands are listed, so the use commands never import the studies.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from laserrec.cli.app import EXTRA
from laserrec.errors import LaserrecError

app = typer.Typer()


@app.command("experiment")
def experiment_cmd(
    name: str = typer.Argument(..., help="main | ablation | cold-start | transfer | sensitivity | cf-model"),
    data: Path = typer.Option(..., "--data", "-d", help="prepared dataset folder (transfer: the source)"),
    out: Path = typer.Option(
        ..., "--out", "-o", help="folder for the runs, results.json, results.md, figure"
    ),
    target: Path = typer.Option(None, "--target", help="transfer: the prepared dataset transferred to"),
    budget: str = typer.Option(
        "cpu", "--budget", help="cpu | paper | minutes=M (M minutes per trained cell)"
    ),
    runs: Path = typer.Option(
        None, "--runs", help="folder of the cells' runs (default OUT/runs); experiments sharing it reuse runs"
    ),
    settings: list[str] = typer.Option(
        [], "--set", help="MODEL.KEY=VALUE or CELL.KEY=VALUE for the runs of the experiment, repeatable"
    ),
    partial: bool = typer.Option(
        False,
        "--partial",
        help="train nothing: write the results of the cells finished so far, the others marked not run "
        "(main, transfer), e.g. while the experiment runs in another process",
    ),
    only: str = typer.Option(
        "",
        "--only",
        help="comma-separated cells to train (the others are read if finished), partial results written "
        "(main, transfer): e.g. two processes sharing --runs, each with its own cells",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
) -> None:
    """Run one of the paper's experiments: every cell it needs is trained (a finished run is reused, an
    interrupted one resumed), then OUT/results.json, results.md and figure.png are written."""
    if quiet:
        os.environ["TQDM_DISABLE"] = "1"
    from laserrec.pipeline import model_settings
    from laserrec.studies.experiments import run_experiment

    command = " ".join(["laserrec", *sys.argv[1:]]) if sys.argv[1:2] == ["experiment"] else ""
    text = run_experiment(
        name,
        data,
        out,
        budget,
        target,
        model_settings({}, settings),
        progress=not quiet,
        command=command,
        runs=runs,
        partial=partial,
        only=[c for c in only.split(",") if c],
    )
    typer.echo(text)
    typer.echo(f"written to {out}")


@app.command("report")
def report_cmd(
    folders: list[Path] = typer.Argument(..., help="experiment folders (each with results.json)"),
    out: Path = typer.Option(..., "--out", "-o", help="the page to write: .md (markdown) or .html"),
) -> None:
    """Gather experiments' results and figures into one page (markdown, or HTML with the figures inlined)."""
    from laserrec.studies.experiments.report import write_report

    write_report(folders, out)
    typer.echo(f"report of {len(folders)} experiment(s) written to {out}")


@app.command("search-adapters", context_settings=EXTRA)
def search_adapters(
    ctx: typer.Context,
    data: Path = typer.Option(..., "--data", "-d", help="prepared dataset folder"),
    out: Path = typer.Option(..., "--out", "-o", help="folder for the trial runs and search.json"),
    trials: int = typer.Option(8, help="Bayesian-optimisation budget: number of short training trials"),
    sample_users: int = typer.Option(1000, help="users each trial trains and validates on (0 = all)"),
    cf: Path = typer.Option(None, "--cf", help="run folder of a trained SASRec for collaborative injection"),
    llm: str = typer.Option(None, "--llm", help="language model (default: smollm2)"),
) -> None:
    """DARec: search the serial/parallel adapter choice of every layer (Optuna TPE on validation NDCG),
    then print the layout to pass to `laserrec train --model darec --adapter_layout=...`."""
    from laserrec.config import parse_overrides
    from laserrec.studies.adapter_search import search_adapter_layout

    overrides = parse_overrides(ctx.args)
    if cf is not None:
        overrides["cf_run"] = str(cf)
    if llm is not None:
        overrides["llm"] = llm
    layout = search_adapter_layout(data, out, trials, overrides, sample_size=sample_users)
    typer.echo(f"best layout ({len(layout)} layers): {','.join(layout)}")
    typer.echo(f"train with: laserrec train --model darec --adapter_layout={','.join(layout)} ...")


@app.command("plan", context_settings=EXTRA)
def plan_cmd(
    ctx: typer.Context,
    model: str = typer.Option("laser", "--model", "-m", help="the model to size (laser)"),
    recipe: str = typer.Option(None, "--recipe", "-r", help="laser: laserrec [default], paper-cpu, paper"),
    llm: str = typer.Option(
        None, "--llm", help="smollm2 | a preset (llama-3.2-1b, llama-2-7b) | config.json | model folder"
    ),
    batch: int = typer.Option(None, "--batch", help="global batch (default: the recipe's batch_size)"),
    gpus: int = typer.Option(1, "--gpus", help="GPUs (processes) the batch is split over"),
    tflops: float = typer.Option(100.0, "--tflops", help="model TFLOP/s one GPU sustains (e.g. 40% of peak)"),
    items: int = typer.Option(10_000, "--items", help="catalog size (the item matrix, phase 1's encoding)"),
    samples: int = typer.Option(0, "--samples", help="training samples per epoch (0: ten per item)"),
    cf_hidden: int = typer.Option(64, "--cf-hidden", help="width of the frozen ID model (SASRec: 64)"),
    device: str = typer.Option("cuda", "--device", help="cuda (bf16, fused attention) | cpu"),
    grad_checkpointing: bool = typer.Option(False, "--grad-checkpointing", help="recompute activations"),
    tokens: int = typer.Option(0, "--tokens", help="tokens per user prompt (0: estimated from the recipe)"),
    as_json: bool = typer.Option(False, "--json", help="print the plan as JSON"),
) -> None:
    """Size a run before renting GPUs: parameters, trainable share, memory per GPU (weights, gradients,
    optimizer, activations) and time per step and epoch at a given throughput. Loads no weights (the
    packaged SmolLM2 is converted into the cache once, as train does); extra --key=value set Laser options
    (e.g. --n_prefix=16)."""
    from laserrec.config import parse_overrides
    from laserrec.studies.plan import describe, plan
    from laserrec.training.runs import resolve_configs

    if model != "laser":
        raise LaserrecError(f"--model {model}: plan sizes Laser (the LLM models' flagship) only")
    overrides = parse_overrides(ctx.args)
    if llm is not None:
        overrides["llm"] = llm
    model_cfg, train_cfg = resolve_configs(model, {}, overrides, recipe)
    result = plan(
        model_cfg, model_cfg.llm, batch or train_cfg.batch_size, gpus, tflops, items,
        samples or train_cfg.samples_per_epoch, cf_hidden, device, grad_checkpointing, tokens,
    )  # fmt: skip
    typer.echo(json.dumps(result.to_dict(), indent=2) if as_json else describe(result))


@app.command(context_settings=EXTRA)
def bench(
    ctx: typer.Context,
    data: Path = typer.Option(..., "--data", "-d", help="prepared dataset folder"),
    cf: Path = typer.Option(
        None, "--cf", help="run folder of a trained SASRec/BERT4Rec (default: no M-Former)"
    ),
    out: Path = typer.Option(..., "--out", "-o", help="JSON file to write the measurements to"),
    llm: str = typer.Option("smollm2", "--llm", help="smollm2 | minilm | local path | hub name"),
    quick: bool = typer.Option(False, "--quick", help="tiny samples: checks that it runs, measures little"),
    threads: int = typer.Option(0, help="torch threads of the measurements (0 = every core)"),
    levers: bool = typer.Option(True, "--levers/--no-levers", help="also time each lever (~10 more minutes)"),
) -> None:
    """Time Laser on this machine (run it idle): matmul ceiling, training and encoding throughput with
    MFU, full evaluation, peak RSS, plain vs fast path, and levers; extra --key=value set Laser options
    (e.g. --compile=true times the compiled backbone)."""
    from laserrec.config import parse_overrides
    from laserrec.studies.bench.run import run_bench
    from laserrec.studies.bench.table import bench_table

    result = run_bench(data, out, cf, llm, quick, parse_overrides(ctx.args), threads, levers)
    typer.echo(bench_table(result))
    typer.echo(f"written to {out}")
