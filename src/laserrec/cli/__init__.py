"""The ``laserrec`` command: prepare data, train, evaluate, compare, recommend, add items.

Errors a user can cause print one line naming the file or value and exit with status 2.
"""

from __future__ import annotations

import importlib
import sys

import typer

from laserrec.allocator import keep_freed_memory
from laserrec.cli.app import app
from laserrec.errors import LaserrecError

# each module registers its commands on app; --help lists them in this order
for _module in ("data", "runs", "use", "studies"):
    importlib.import_module(f"laserrec.cli.{_module}")


def main() -> None:
    keep_freed_memory()
    try:
        app()
    except LaserrecError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
