"""The `--writes` scenario of ``serve_load.py``: recommend latency while items stream in through
``POST /items``, beside the same service idle, and the service's memory over a long run.

One ``laserrec serve`` subprocess on a copy of the run (the added items go into the copy's index), with
``--clients`` recommend clients (as in the batching scenario) throughout. Rounds of ``--duration`` seconds
alternate: idle (recommends only), then writes (one more client posting ``--write-batch`` new items at a
time, each answered before the next is sent). Alternating, rather than one long phase each, spreads what
other work on the machine does over both. After the rounds the recommend clients go on alone ("soak")
until ``--soak-requests`` recommends were answered in all; the service's RSS is read from ``/proc`` every
1,000 recommends. A request sent in one phase and answered in the next counts for neither. A run that
takes no new items (an ID model) is only soaked.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import httpx
from serve_clients import Connection, latency_summary, recommend_body, rss_mb, service, warm_up

TOKEN = "benchmark-token"  # passed in LASERREC_TOKEN, as docs/serving.md says to
PHASES = ("idle", "writes", "soak")
RSS_EVERY = 1000  # recommend requests


def under_writes(run_dir: str, histories: list[list[str]], categories: list[str], args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / Path(run_dir).name
        shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("last.pt"))
        extra = args.serve_args.split()
        with service(str(copy), args.port, extra, env={"LASERREC_TOKEN": TOKEN}) as server:
            url = f"http://127.0.0.1:{args.port}"
            warm_up(url, histories)
            rounds = args.rounds if httpx.get(f"{url}/health").json()["takes_new_items"] else 0
            result = asyncio.run(_phases(server.pid, histories, categories, args, rounds))
    return {"run": run_dir, "command": " ".join(["laserrec", "serve", run_dir, *extra]), **result}


async def _phases(pid: int, histories, categories: list[str], args, rounds: int) -> dict:
    phase = ["idle"]
    reads = {name: ([], []) for name in PHASES}  # seconds, kinds
    writes, rss, answered = ([], []), [{"requests": 0, "rss_mb": rss_mb(pid), "phase": "start"}], [0]
    stop, wall = asyncio.Event(), dict.fromkeys(PHASES, 0.0)

    async def reader(n: int) -> None:
        connection, i = Connection("127.0.0.1", args.port), n * 7919
        while not stop.is_set():
            sent = phase[0]
            kind, took = await connection.timed_post("/recommend", recommend_body(histories, i))
            i += 1
            if phase[0] == sent:
                reads[sent][0].append(took)
                reads[sent][1].append(kind)
            answered[0] += 1
            if answered[0] % RSS_EVERY == 0:
                rss.append({"requests": answered[0], "rss_mb": rss_mb(pid), "phase": phase[0]})
        connection.close()

    async def writer() -> None:
        connection, n = Connection("127.0.0.1", args.port, f"Authorization: Bearer {TOKEN}\r\n"), 0
        while not stop.is_set():
            if phase[0] != "writes":
                connection.close()  # idle longer than uvicorn keeps a connection open (5 s)
                await asyncio.sleep(0.01)
                continue
            items = [_new_item(n + j, categories) for j in range(args.write_batch)]
            kind, took = await connection.timed_post("/items", {"items": items})
            n += len(items)
            writes[0].append(took)
            writes[1].append(kind)
        connection.close()

    async def control() -> None:
        for _ in range(rounds):
            for name in ("idle", "writes"):
                phase[0], start = name, time.perf_counter()
                await asyncio.sleep(args.duration)
                wall[name] += time.perf_counter() - start
        phase[0], start = "soak", time.perf_counter()
        while answered[0] < args.soak_requests:
            await asyncio.sleep(0.2)
        wall["soak"] = time.perf_counter() - start
        stop.set()

    await asyncio.gather(control(), writer(), *(reader(n) for n in range(args.clients)))
    ran = [name for name in PHASES if wall[name]]
    recommend = {name: {"seconds": round(wall[name], 1), **latency_summary(*reads[name])} for name in ran}
    for name in ran:
        recommend[name]["requests_per_s"] = round(recommend[name]["requests"] / wall[name], 1)
    result = {"recommend": recommend, "rss": {"every_requests": RSS_EVERY, "samples": rss, **_levels(rss)}}
    if rounds:
        added = latency_summary(*writes)
        added["items_per_s"] = round(added["requests"] * args.write_batch / wall["writes"], 1)
        result["writes"] = {**added, "items_per_request": args.write_batch}
        ratio = recommend["writes"]["p99_ms"] / recommend["idle"]["p99_ms"]
        result["p99_under_writes_over_idle"] = round(ratio, 2)
    return result


def _new_item(n: int, categories: list[str]) -> dict:
    title, category = f"Streamed film {n} (2024)", categories[n % len(categories)]
    return {"item": f"streamed-{n}", "title": title, "categories": category}


def _levels(samples: list[dict]) -> dict:
    """Whether memory levels off: the growth over the last quarter of the requests, against the RSS at the
    end and against the growth since the first sample after the warm-up."""
    last = samples[-1]
    quarter = min(samples, key=lambda s: abs(s["requests"] - 0.75 * last["requests"]))
    growth = round(last["rss_mb"] - quarter["rss_mb"], 1)
    total = round(last["rss_mb"] - samples[0]["rss_mb"], 1)
    return {
        "first_mb": samples[0]["rss_mb"],
        "last_mb": last["rss_mb"],
        "max_mb": max(s["rss_mb"] for s in samples),
        "last_quarter_from_requests": quarter["requests"],
        "last_quarter_growth_mb": growth,
        "last_quarter_growth_of_final": round(growth / last["rss_mb"], 4),
        "growth_since_start_mb": total,
    }


def writes_table(result: dict) -> str:
    lines = [
        "| run | phase | recommend req/s | p50 ms | p95 ms | p99 ms | errors | writes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        w = run.get("writes")
        for name, m in run["recommend"].items():
            wrote = (
                f"{w['items_per_s']} items/s ({w['requests']} posts of {w['items_per_request']}, "
                f"p50 {w['p50_ms']} ms, p99 {w['p99_ms']} ms, {w['errors']} errors)"
                if name == "writes"
                else ""
            )
            lines.append(
                f"| {run['run']} | {name} | {m['requests_per_s']} | {m['p50_ms']} | {m['p95_ms']} | "
                f"{m['p99_ms']} | {m['errors']} | {wrote} |"
            )
        r = run["rss"]
        shown = r["samples"][:: max(1, len(r["samples"]) // 10)]
        shown += r["samples"][-1:] if shown[-1] is not r["samples"][-1] else []
        curve = ", ".join(f"{s['requests'] // 1000}k: {s['rss_mb']:.0f}" for s in shown)
        ratio = f"p99 under writes / idle = {run['p99_under_writes_over_idle']}; " if w else ""
        lines.append(
            f"\n{run['run']}: {ratio}RSS MB after N recommends ({curve}): last quarter "
            f"{r['last_quarter_growth_mb']:+.1f} MB = {100 * r['last_quarter_growth_of_final']:.2f}% of the "
            "final RSS\n"
        )
    return "\n".join(lines)
