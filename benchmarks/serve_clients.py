"""What ``serve_load.py`` drives a service with: one ``laserrec serve`` subprocess, lean keep-alive HTTP/1.1
connections, latency percentiles, and the service's resident memory read from ``/proc``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time

import httpx
import numpy as np


class Connection:
    """One keep-alive HTTP/1.1 connection, as lean as a client can be, so that the clients take as little of
    the machine's CPU from the service as possible (httpx costs several times more per request)."""

    def __init__(self, host: str, port: int, headers: str = "") -> None:
        self.host, self.port, self.headers, self.reader, self.writer = host, port, headers, None, None

    async def post(self, path: str, body: dict) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n{self.headers}"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        self.writer.write(head.encode() + data)
        status_line, *headers = (await self.reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        length = next(int(h.split(":")[1]) for h in headers if h.lower().startswith("content-length:"))
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    async def timed_post(self, path: str, body: dict, timeout: float = 60) -> tuple[str, float]:
        """The answer's status (or the error's name: the connection is then closed) and its seconds."""
        sent = time.perf_counter()
        try:
            status, _ = await asyncio.wait_for(self.post(path, body), timeout)
            kind = str(status)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as e:
            kind = type(e).__name__
            self.close()
        return kind, time.perf_counter() - sent

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@contextlib.contextmanager
def service(run_dir: str, port: int, extra: list[str], env: dict | None = None):
    """``laserrec serve RUN --port PORT EXTRA`` until the block ends; yields the process (its log, an
    access line per request, goes to a temporary file rather than a pipe that could fill)."""
    command = [sys.executable, "-m", "laserrec", "serve", run_dir, "--port", str(port), *extra]
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})}
        )
        try:
            wait_for(f"http://127.0.0.1:{port}", server, log)
            yield server
        finally:
            server.terminate()
            server.wait(30)


def wait_for(url: str, server: subprocess.Popen, log, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise SystemExit(f"laserrec serve exited:\n{log.read()[-2000:]}")
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise SystemExit(f"laserrec serve did not answer on {url} within {timeout:.0f} s")


def recommend_body(histories: list[list[str]], i: int) -> dict:
    """The i-th request of a client: a test user's history, the top 10 of what they do not have."""
    return {"history": histories[i % len(histories)], "k": 10, "exclude_history": True}


def warm_up(url: str, histories: list[list[str]]) -> dict:
    """A few requests (the first calls build caches); the batching counters after them."""
    with httpx.Client(base_url=url, timeout=120) as warm:
        for n in range(8):
            warm.post("/recommend", json=recommend_body(histories, n))
        return warm.get("/health").json()["batching"]


def rss_mb(pid: int) -> float:
    """Resident memory of a process (VmRSS), in MB."""
    with open(f"/proc/{pid}/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return round(kb / 1024, 1)


def latency_summary(seconds: list[float], kinds: list[str]) -> dict:
    """Count, percentiles (ms) and errors (anything but a 200, by kind) of timed requests."""
    ms = np.array(seconds) * 1000 if seconds else np.zeros(1)
    errors: dict[str, int] = {}
    for kind in kinds:
        if kind != "200":
            errors[kind] = errors.get(kind, 0) + 1
    return {
        "requests": len(seconds),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "errors": sum(errors.values()),
        "error_kinds": errors,
    }
