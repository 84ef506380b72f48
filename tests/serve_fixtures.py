"""What the service tests share: tiny trained runs, and a real uvicorn server on a free loopback port."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import uvicorn

from laserrec.training.runs import train_run
from test_recommend import LASER, SASREC


def train_tiny_runs(root: Path, tiny_llama: str) -> Path:
    """ROOT/sasrec and ROOT/laser (on ROOT/sasrec) trained on the toy dataset in a few seconds."""
    from conftest import make_data

    data_dir = make_data().save(root / "toy")
    train_run("sasrec", data_dir, root / "sasrec", overrides=SASREC, progress=False)
    laser = {**LASER, "llm": tiny_llama, "cf_run": str(root / "sasrec")}
    train_run("laser", data_dir, root / "laser", overrides=laser, recipe="paper-cpu", progress=False)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(app, timeout: float = 30.0):
    """Serve ``app`` on uvicorn in a background thread; yields its base URL, stops it on exit."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
