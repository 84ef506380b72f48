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

    python benchmarks/serve_load.py --writes --run runs/ml/laser --out benchmarks/results/serve_writes.json

``--writes``: recommend latency idle and while items stream in through ``POST /items``, side by side on one
service, and its memory every 1,000 requests over ``--soak-requests`` (see ``serve_writes.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import time
from pathlib import Path

import httpx
from serve_clients import Connection, latency_summary, recommend_body, service, warm_up
from serve_writes import under_writes, writes_table

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


async def load(port: int, histories: list[list[str]], clients: int, seconds: float) -> dict:
    seconds_of, kinds = [], []
    stop = time.perf_counter() + seconds

    async def client(n: int) -> None:
        connection, i = Connection("127.0.0.1", port), n * 7919
        while time.perf_counter() < stop:
            kind, took = await connection.timed_post("/recommend", recommend_body(histories, i))
            i += 1
            seconds_of.append(took)
            kinds.append(kind)
        connection.close()

    start = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    wall = time.perf_counter() - start
    return {
        "seconds": round(wall, 2),
        "requests_per_s": round(len(seconds_of) / wall, 1),
        **latency_summary(seconds_of, kinds),
    }


def served(run_dir: str, extra: list[str], histories, clients: int, seconds: float, port: int) -> dict:
    url = f"http://127.0.0.1:{port}"
    with service(run_dir, port, extra):
        before = warm_up(url, histories)
        result = asyncio.run(load(port, histories, clients, seconds))
        after = httpx.get(f"{url}/health").json()["batching"]
    calls, answered = after["calls"] - before["calls"], after["requests"] - before["requests"]
    batches = {"calls": calls, "mean_batch": round(answered / calls, 2) if calls else None}
    return {**result, **batches, "command": " ".join(["laserrec", "serve", run_dir, *extra])}


def catalog_categories(run_dir: str) -> list[str]:
    """The categories of the run's items, most common first (new items take one each, in turn)."""
    from collections import Counter

    from laserrec.data.dataset import PreparedData

    data = PreparedData.load(json.loads((Path(run_dir) / "config.json").read_text())["data"])
    counts = Counter(c.strip() for item in data.items[1:] for c in item.categories.split(",") if c.strip())
    return [c for c, _ in counts.most_common(20)] or ["misc"]


def machine(note: str) -> dict:
    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    return {
        "cpu": names[0] if names else platform.processor(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "note": note,
    }


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
    parser.add_argument("--writes", action="store_true", help="the writes scenario (serve_writes.py)")
    parser.add_argument("--rounds", type=int, default=2, help="--writes: idle + writes rounds")
    parser.add_argument("--write-batch", type=int, default=1, help="--writes: items per POST /items")
    parser.add_argument("--soak-requests", type=int, default=20_000, help="--writes: recommends in all")
    parser.add_argument("--note", default="", help="what else ran on the machine, for the JSON")
    args = parser.parse_args()

    result = {
        "machine": machine(args.note),
        "clients": args.clients,
        "duration_s": args.duration,
        "history_len": args.history_len,
        "serve_args": args.serve_args,
        "runs": [],
    }
    if args.writes:
        result.update(rounds=args.rounds, soak_requests=args.soak_requests)
    for run_dir in args.run:
        histories = test_histories(run_dir, args.history_len)
        if args.writes:
            result["runs"].append(under_writes(run_dir, histories, catalog_categories(run_dir), args))
            print(f"{run_dir}: done", flush=True)
            continue
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
    print(writes_table(result) if args.writes else table(result))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
