"""The ``laserrec`` Typer application and what its command modules share."""

from __future__ import annotations

import click
import typer
from typer.core import TyperGroup


class _UseThenStudies(TyperGroup):
    """The use commands, then the study commands (``laserrec.studies.cli``), which are imported only when
    one of them is run or the commands are listed: the core never imports the studies on its own."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_studies()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands:  # also before a typo's "did you mean", which reads self.commands
            self._add_studies()
        return super().get_command(ctx, name)

    def _add_studies(self) -> None:
        from laserrec.studies.cli import app as studies_app  # the one import of the studies by the core

        for name, command in typer.main.get_group(studies_app).commands.items():
            self.commands.setdefault(name, command)


app = typer.Typer(
    cls=_UseThenStudies,
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
    from laserrec.pipeline import metrics_table

    typer.echo(metrics_table(rows))
