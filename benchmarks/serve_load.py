"""`laserrec serve` under load: concurrent clients on loopback, with and without request batching, against
the same model's offline ``recommend_many`` throughput measured in the same run (the ceiling).

    python benchmarks/serve_load.py --run runs/ml/sasrec --run runs/ml/laser \\
        --out benchmarks/results/serve_load.json

Per run: the offline ceiling (``recommend_many`` over the test histories in batches of ``--offline-batch``,
in this process, then the model is freed), measured before and after the served modes and averaged, as
other work on the machine changes speeds over minutes; one ``laserrec serve`` subprocess per mode, warmed
up, then ``--clients`` clients (one asyncio task each, one request at a time) posting
``{"history": <a user's last --history-len ids>, "k": 10, "exclude_history": true}`` for ``--duration``
seconds. Requests/s, latency percentiles, errors (anything but 200, or no answer) and the batches the
service made are written as JSON and printed as a table. The clients run in this process, on the same
cores as the service: on a small machine they take part of its CPU (the table says how many cores).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

MODES = {"batching": [], "no batching": ["--no-batching"]}


def test_histories(run_dir: str, history_len: int) -> list[list[str]]:
    """Every test user's history (all but the last item), the last ``history_len`` raw ids of each."""
    from laserrec.data.dataset import PreparedData, leave_one_out

    config = json.loads((Path(run_dir) / "config.json").read_text())
    data = PreparedData.load(config["data"])
    test = leave_one_out(data).test
    return [[data.item_ids[i - 1] for i in h.tolist()][-history_len:] for h in test.histories]


def offline(run_dir: str, histories: list[list[str]], batch: int, seconds: float) -> dict:
    """Users per second of ``recommend_many`` on these histories (repeated until ``seconds`` have passed)."""
    import laserrec

    rec = laserrec.load(run_dir)
    rec.recommend_many(histories[:batch], 10, exclude_history=True, batch_size=batch)  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        chunk = [histories[(done + n) % len(histories)] for n in range(batch * 4)]
        rec.recommend_many(chunk, 10, exclude_history=True, batch_size=batch)
        done += len(chunk)
    wall = time.perf_counter() - start
    info = {"model": rec.model, "n_items": rec.n_items, "users": done, "seconds": round(wall, 2)}
    del rec
    gc.collect()
    return {**info, "users_per_s": round(done / wall, 1), "batch_size": batch}


class Connection:
    """One keep-alive HTTP/1.1 connection, as lean as a client can be, so that the clients take as little of
    the machine's CPU from the service as possible (httpx costs several times more per request)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port, self.reader, self.writer = host, port, None, None

    async def post(self, path: str, body: dict) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        self.writer.write(head.encode() + data)
        status_line, *headers = (await self.reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        length = next(int(h.split(":")[1]) for h in headers if h.lower().startswith("content-length:"))
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def load(port: int, histories: list[list[str]], clients: int, seconds: float) -> dict:
    latencies, errors, kinds = [], 0, {}
    stop = time.perf_counter() + seconds

    async def client(n: int) -> None:
        nonlocal errors
        connection, i = Connection("127.0.0.1", port), n * 7919
        while time.perf_counter() < stop:
            body = {"history": histories[i % len(histories)], "k": 10, "exclude_history": True}
            i += 1
            sent = time.perf_counter()
            try:
                status, _ = await asyncio.wait_for(connection.post("/recommend", body), 60)
                kind = str(status)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as e:
                status, kind = 0, type(e).__name__
                connection.close()
            latencies.append(time.perf_counter() - sent)
            if status != 200:
                errors += 1
                kinds[kind] = kinds.get(kind, 0) + 1
        connection.close()

    start = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    wall = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "seconds": round(wall, 2),
        "requests_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "errors": errors,
        "error_kinds": kinds,
    }


def served(run_dir: str, extra: list[str], histories, clients: int, seconds: float, port: int) -> dict:
    command = [sys.executable, "-m", "laserrec", "serve", run_dir, "--port", str(port), *extra]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:  # the service's log (an access line per request): no pipe
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for(url, server, log)
            with httpx.Client(base_url=url, timeout=120) as warm:  # the first calls build caches
                for h in histories[:8]:
                    warm.post("/recommend", json={"history": h, "k": 10, "exclude_history": True})
                before = warm.get("/health").json()["batching"]
            result = asyncio.run(load(port, histories, clients, seconds))
            after = httpx.get(f"{url}/health").json()["batching"]
        finally:
            server.terminate()
            server.wait(30)
    calls, answered = after["calls"] - before["calls"], after["requests"] - before["requests"]
    batches = {"calls": calls, "mean_batch": round(answered / calls, 2) if calls else None}
    return {**result, **batches, "command": " ".join(["laserrec", "serve", run_dir, *extra])}


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


def table(result: dict) -> str:
    lines = [
        "| run | model | mode | req/s | p50 ms | p95 ms | p99 ms | errors | mean batch | of offline |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        ceiling = run["offline"]["users_per_s"]
        lines.append(
            f"| {run['run']} | {run['offline']['model']} | offline `recommend_many` "
            f"(batch {run['offline']['batch_size']}) | {ceiling} | | | | | | 100% |"
        )
        for mode, m in run["served"].items():
            lines.append(
                f"| {run['run']} | {run['offline']['model']} | {mode}, {result['clients']} clients | "
                f"{m['requests_per_s']} | {m['p50_ms']} | {m['p95_ms']} | {m['p99_ms']} | {m['errors']} | "
                f"{m['mean_batch'] or '-'} | {100 * m['requests_per_s'] / ceiling:.0f}% |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True, help="run folder (repeatable)")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per mode")
    parser.add_argument("--history-len", type=int, default=50, help="ids per request (a user's last)")
    parser.add_argument("--offline-batch", type=int, default=64, help="recommend_many batch of the ceiling")
    parser.add_argument("--offline-seconds", type=float, default=20.0)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--serve-args", default="", help="`laserrec serve` options of the batching mode")
    args = parser.parse_args()

    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "clients": args.clients,
        "duration_s": args.duration,
        "history_len": args.history_len,
        "serve_args": args.serve_args,
        "runs": [],
    }
    for run_dir in args.run:
        histories = test_histories(run_dir, args.history_len)
        before = offline(run_dir, histories, args.offline_batch, args.offline_seconds)
        print(f"{run_dir}: offline {before['users_per_s']} users/s", flush=True)
        entry = {"run": run_dir, "served": {}}
        for mode, extra in MODES.items():
            extra = extra + args.serve_args.split() if mode == "batching" else extra
            entry["served"][mode] = served(run_dir, extra, histories, args.clients, args.duration, args.port)
            print(f"{run_dir}: {mode}: {entry['served'][mode]['requests_per_s']} requests/s", flush=True)
        after = offline(run_dir, histories, args.offline_batch, args.offline_seconds)
        print(f"{run_dir}: offline again {after['users_per_s']} users/s", flush=True)
        ceiling = round((before["users_per_s"] + after["users_per_s"]) / 2, 1)
        entry["offline"] = {**before, "users_per_s": ceiling, "before_and_after": [before, after]}
        result["runs"].append(entry)
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
