"""The ``laserrec`` Typer application and what its command modules share."""

from __future__ import annotations

import typer

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


def print_metrics_table(rows: list[dict]) -> None:
    from laserrec.report import metrics_table

    typer.echo(metrics_table(rows))
