"""The ``laserrec`` command: prepare data, train, evaluate, compare, recommend, add items, and the studies'
commands (``laserrec.studies.cli``).

Errors a user can cause print one line naming the file or value and exit with status 2.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from laserrec.allocator import keep_freed_memory
from laserrec.cli.app import app
from laserrec.errors import LaserrecError

# each module registers its commands on app; --help lists them in this order, then the study commands
# (added by app itself, on demand: see cli/app.py)
for _module in ("data", "runs", "use", "pipeline"):
    importlib.import_module(f"laserrec.cli.{_module}")


class _Echo(logging.Handler):
    """The library's messages (``logging`` under "laserrec") as the command's own lines, as logged:
    information on stdout, warnings on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(self.format(record), err=record.levelno >= logging.WARNING)


@app.callback()
def show_library_messages(ctx: typer.Context) -> None:
    """Each command shows what the library logs while it runs (a Python caller chooses with ``logging``)."""
    logger, handler = logging.getLogger("laserrec"), _Echo()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    ctx.call_on_close(lambda: (logger.removeHandler(handler), logger.setLevel(level)))


def main() -> None:
    keep_freed_memory()
    try:
        app()
    except LaserrecError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
