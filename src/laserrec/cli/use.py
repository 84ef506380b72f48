"""`laserrec recommend`, `index`, `add-items` and `serve`: a trained run put to use."""

from __future__ import annotations

from pathlib import Path

import typer

from laserrec.cli.app import app, device_option
from laserrec.errors import LaserrecError

TOKEN_VARIABLE = "LASERREC_TOKEN"


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
    dims = f", {index.vectors.shape[1]} dims" if index.scoring != "full" else ": the model scores every item"
    typer.echo(
        f"item index of {index.n_items:,} items ({index.scoring}{dims}) written to {run_dir / 'index'}"
    )


@app.command("add-items")
def add_items_cmd(
    run_dir: Path = typer.Argument(
        ...,
        help="run folder of a model that takes new items (Laser, Lite-LLM4Rec, text, fusion, most_popular)",
    ),
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
    ctx: typer.Context,
    run_dir: Path = typer.Argument(..., help="run folder written by `laserrec train`"),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="address to bind (another than loopback is reachable from other machines)"
    ),
    port: int = typer.Option(8000, "--port", help="TCP port"),
    token: str = typer.Option(
        None,
        "--token",
        envvar=TOKEN_VARIABLE,
        help=f"adding items needs 'Authorization: Bearer TOKEN'; pass it in {TOKEN_VARIABLE} rather than "
        "here (every local user sees a command line)",
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

    if token and ctx.get_parameter_source("token").name == "COMMANDLINE":  # not from LASERREC_TOKEN
        typer.echo(
            f"warning: --token on the command line is visible to every user of this machine (ps); "
            f"set {TOKEN_VARIABLE} instead",
            err=True,
        )
    try:
        from laserrec.inference.serve import serve as run_service
    except ImportError as e:
        raise LaserrecError(f"serving needs {e.name}: pip install 'laserrec[serve]'") from None
    rec = laserrec.load(run_dir, device=device)
    run_service(
        rec, host, port, token=token, batching=batching, batch_max=batch_max,
        batch_wait_ms=batch_wait_ms, max_body=max_body_kb * 1024,
    )  # fmt: skip
