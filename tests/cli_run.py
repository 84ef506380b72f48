"""The command line as a user meets it, for tests: exit status and the one line an error prints."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from laserrec import cli

runner = CliRunner()

SASREC = ["--hidden_size=16", "--n_heads=2", "--inner_size=32", "--max_len=8", "--batch_size=8"]


def run(*args: object) -> tuple[int, str]:
    """Invoke ``laserrec`` as ``cli.main`` does: a ``LaserrecError`` is exit status 2 and its message; any
    other exception propagates (a traceback is a failure)."""
    try:
        result = runner.invoke(cli.app, [str(a) for a in args], catch_exceptions=False)
        return result.exit_code, result.stdout
    except cli.LaserrecError as e:
        return 2, str(e)


def one_line(message: str) -> bool:
    return len(message.strip().splitlines()) == 1


def train_sasrec(data: Path, out: Path, *extra: object) -> tuple[int, str]:
    return run("train", "-m", "sasrec", "-d", data, "-o", out, "-q", "--epochs=1", *SASREC, *extra)


def write_csv_dataset(folder: Path, n_users: int = 6) -> Path:
    folder.mkdir(parents=True)
    rows = ["user,item,timestamp"] + [f"u{u},i{(u + k) % 7},{k}" for u in range(n_users) for k in range(5)]
    (folder / "interactions.csv").write_text("\n".join(rows) + "\n")
    (folder / "items.jsonl").write_text(
        "".join(json.dumps({"item": f"i{i}", "title": f"thing {i}"}) + "\n" for i in range(7))
    )
    return folder
