"""Scale on one machine: a 50,000-user catalog, a 10-million-interaction CSV, and 1 against 2 processes.

    python benchmarks/scale.py games --raw DATASETS/games_llmrank --work /tmp/scale \\
        --out benchmarks/results/scale_games.json
    python benchmarks/scale.py prepare --rows 10000000 --work /tmp/scale --floor-path /tmp/floor \\
        --out benchmarks/results/scale_prepare.json
    python benchmarks/scale.py processes --data data/scientific --games /tmp/scale/games/prepared \\
        --work /tmp/scale --out benchmarks/results/scale_processes.json

``games``: games_llmrank (RecBole's sequential benchmark files: a user's sequence is the test history
plus its target) converted to CSV + JSONL and prepared; SASRec seconds per epoch; a full-ranking
evaluation of every user (scores in batches of at most ``evaluator.MAX_SCORES``; its own process, so the
peak RSS is the evaluation's); Laser's encoding of the whole catalog.
``prepare``: a synthetic CSV (users, items and times drawn at random, item popularity Zipf-like) through
``laserrec prepare``, beside reading the same file with polars and pyarrow (``--floor-path``: where they
are installed, e.g. ``pip install --target DIR polars pyarrow``).
``processes``: Laser item encoding and training epochs (Laser, SASRec) under ``torchrun`` with 1 and 2
processes (1 process: 2 threads; 2 processes: 1 thread each, the same two cores).
Every measurement runs in its own process; the JSON records wall time, peak RSS and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list, env: dict | None = None) -> dict:
    """Wall seconds, CPU seconds (the command and every process it waited for: torchrun's ranks too) and
    peak RSS (GB) of a command; its last stdout line as JSON if it is one."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    wall = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{cmd} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    rss = after.ru_maxrss / 1e6  # the largest child so far
    lines = done.stdout.strip().splitlines()
    try:
        value = json.loads(lines[-1]) if lines else {}
    except ValueError:
        value = {}
    return {
        "wall_seconds": round(wall, 2),
        "command_cpu_seconds": round(cpu, 2),
        "max_child_rss_gb_so_far": round(rss, 3),
        **value,
    }


def child(code: str, *args: object) -> dict:
    """Run ``code`` (a function of this file) in a fresh interpreter; it prints one JSON line."""
    return run([sys.executable, __file__, "--child", code, *args])


def peak_rss_gb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (every thread): on a shared machine the fair
    figure beside wall time."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return round(r.ru_utime + r.ru_stime, 2)


# ------------------------------------------------------------------ children (one measurement each)
def c_prepare(src: str, out: str, path: str = "columnar") -> dict:
    """``prepare`` by the columnar path (polars installed) or, with path "rows", the row-by-row one."""
    from laserrec.data import columnar
    from laserrec.data.prepare import prepare_dataset

    if path == "rows":
        columnar.available = lambda: False
    t0, c0 = time.perf_counter(), cpu_seconds()
    data = prepare_dataset(Path(src), Path(out), "csv", overwrite=True)
    return {
        "path": path if columnar.available() else "rows (polars not installed)",
        "seconds": round(time.perf_counter() - t0, 2),
        "cpu_seconds": round(cpu_seconds() - c0, 2),
        "peak_rss_gb": peak_rss_gb(),
        "users": data.n_users,
        "items": data.n_items,
    }


def c_floor(lib: str, csv: str) -> dict:
    t0, c0 = time.perf_counter(), cpu_seconds()
    if lib == "polars":
        import polars as pl

        rows = pl.read_csv(csv).height
    else:
        import pyarrow.csv as pc

        rows = pc.read_csv(csv).num_rows
    seconds, cpu = round(time.perf_counter() - t0, 2), round(cpu_seconds() - c0, 2)
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_gb": peak_rss_gb(), "rows": rows}


def c_evaluate(run_dir: str) -> dict:
    from laserrec.training.loading import evaluate_run

    c0 = cpu_seconds()
    m = evaluate_run(run_dir, progress=False, device="cpu")
    return {
        "seconds": m["seconds"],
        "cpu_seconds_with_load": round(cpu_seconds() - c0, 2),
        "users": m["users"],
        "peak_rss_gb": peak_rss_gb(),
        "recall@10": round(m["recall@10"], 4),
        "ndcg@10": round(m["ndcg@10"], 4),
    }


def c_encode(data_dir: str, cf: str, llm: str, n_items: str) -> dict:
    """Laser (paper-cpu) encoding ``n_items`` items (0: the whole catalog); under torchrun, split."""
    import torch

    from laserrec import distributed
    from laserrec.data.dataset import PreparedData
    from laserrec.training.loading import build_model
    from laserrec.training.runs import resolve_configs

    device = distributed.start(torch.device("cpu"))
    data = PreparedData.load(data_dir)
    cfg, _ = resolve_configs("laser", {}, {"llm": llm, "cf_run": str(Path(cf).resolve())}, "paper-cpu")
    net = build_model("laser", cfg, data, 0, device)
    net.show_progress = False
    if int(n_items):
        net.n_items = int(n_items)  # the first n items only (the matrix keeps its size)
    distributed.barrier()
    t0, c0 = time.perf_counter(), cpu_seconds()
    net.refresh_item_matrix()
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    out = {
        "seconds": round(seconds, 2),
        "cpu_seconds_this_process": round(cpu, 2),
        "items": net.n_items,
        "items_per_s": round(net.n_items / seconds, 1),
        "peak_rss_gb": peak_rss_gb(),
        "llm": llm,
        "threads": torch.get_num_threads(),
        "processes": distributed.world(),
    }
    distributed.stop()
    return out


# ------------------------------------------------------------------ parts
def games_to_csv(raw: Path, folder: Path) -> Path:
    """RecBole benchmark files -> interactions.csv (position as time) + items.jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    titles = {}
    with open(raw / "Games.item", encoding="utf-8") as f:
        next(f)
        for line in f:
            item, _, title = line.rstrip("\n").partition("\t")
            titles[item] = title
    with (
        open(raw / "Games-6k.test.inter", encoding="utf-8") as f,
        open(folder / "interactions.csv", "w") as out,
    ):
        next(f)
        out.write("user,item,timestamp\n")
        for line in f:
            user, history, target = line.rstrip("\n").split("\t")
            for t, item in enumerate([*history.split(), target]):
                out.write(f"{user},{item},{t}\n")
    with open(folder / "items.jsonl", "w", encoding="utf-8") as out:
        for item, title in titles.items():
            out.write(json.dumps({"item": item, "title": title}) + "\n")
    return folder


def laserrec(*args: object, n: int = 1, threads: int = 2) -> dict:
    env = {"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": str(threads), "TQDM_DISABLE": "1"}
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}"] if n > 1 else []
    return run([sys.executable, *launcher, "-m", "laserrec", *args], env)


def part_games(args) -> dict:
    work = args.work / "games"
    csv = games_to_csv(args.raw, work / "raw")
    out = {"prepare": child("c_prepare", csv, work / "prepared")}
    data = work / "prepared"
    sas = work / "sasrec"
    if not (sas / "metrics.json").is_file():
        laserrec("train", "-m", "sasrec", "-d", data, "-o", sas, "-q", "--device", "cpu", "--epochs=3")
    metrics = json.loads((sas / "metrics.json").read_text())
    out["sasrec"] = {
        "epochs": metrics["epochs_run"],
        "seconds_per_epoch": round(metrics["train_seconds"] / metrics["epochs_run"], 2),
    }
    out["evaluate_every_user"] = child("c_evaluate", sas)
    out["laser_encode_catalog"] = child("c_encode", data, sas, args.llm, args.encode_items)
    if args.smollm2_items:  # SmolLM2 on a sample of the catalog: its rate times the catalog is the estimate
        sample = child("c_encode", data, sas, "smollm2", args.smollm2_items)
        sample["catalog_seconds_estimate"] = round(out["prepare"]["items"] / sample["items_per_s"], 1)
        out["laser_encode_smollm2_sample"] = sample
    return out


def part_prepare(args) -> dict:
    import numpy as np

    folder = args.work / "synthetic"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n, users, items = args.rows, args.rows // 20, args.rows // 100
    csv = folder / "interactions.csv"
    with open(csv, "w") as f:
        f.write("user,item,timestamp\n")
        for lo in range(0, n, 1_000_000):
            m = min(1_000_000, n - lo)
            u, i = rng.integers(0, users, m), rng.zipf(1.3, m) % items
            t = rng.integers(1_500_000_000, 1_700_000_000, m)
            f.write(
                "".join(
                    f"u{a},i{b},{c}\n" for a, b, c in zip(u.tolist(), i.tolist(), t.tolist(), strict=True)
                )
            )
    with open(folder / "items.jsonl", "w") as f:
        f.writelines(json.dumps({"item": f"i{k}", "title": f"item number {k}"}) + "\n" for k in range(items))
    out = {"rows": n, "csv_mb": round(csv.stat().st_size / 1e6, 1)}
    paths = os.pathsep.join(p for p in (str(ROOT / "src"), str(args.floor_path or "")) if p)
    env = {"PYTHONPATH": paths}
    for path in ("columnar", "rows"):
        cmd = [sys.executable, __file__, "--child", "c_prepare", folder, args.work / f"prepared_{path}", path]
        out[f"prepare_{path}"] = run(cmd, env)
    for lib in ("polars", "pyarrow"):
        out[lib] = run([sys.executable, __file__, "--child", "c_floor", lib, csv], env)
    for path in ("columnar", "rows"):
        for what in ("seconds", "cpu_seconds"):
            out[f"prepare_{path}_over_polars_{what}"] = round(
                out[f"prepare_{path}"][what] / out["polars"][what], 2
            )
    return out


def part_processes(args) -> dict:
    out = {}
    sas = args.work / "sci_sasrec"
    if not (sas / "metrics.json").is_file():
        laserrec("train", "-m", "sasrec", "-d", args.data, "-o", sas, "-q", "--epochs=5", "--device", "cpu")
    for n in (1, 2):
        threads = 2 // n
        env = {"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": str(threads)}
        launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}"] if n > 1 else []
        out[f"encode_{n}"] = run(
            [
                sys.executable,
                *launcher,
                __file__,
                "--child",
                "c_encode",
                args.data,
                sas,
                args.llm,
                args.encode_items,
            ],
            env,
        )
        for model, data, extra in (
            ("sasrec", args.games or args.data, ["--epochs=1"]),
            (
                "laser",
                args.data,
                [
                    f"--cf={sas}",
                    f"--llm={args.llm}",
                    "--recipe=paper-cpu",
                    "--phase1_epochs=1",
                    "--phase2=false",
                    "--samples_per_epoch=128",
                    "--valid_users=64",
                    "--batch_size=16",
                ],
            ),
        ):
            run_dir = args.work / f"proc_{model}_{n}"
            res = laserrec(
                "train",
                "-m",
                model,
                "-d",
                data,
                "-o",
                run_dir,
                "-q",
                "--device",
                "cpu",
                *extra,
                n=n,
                threads=threads,
            )
            metrics = json.loads((run_dir / "metrics.json").read_text())
            out[f"{model}_epoch_{n}"] = {
                "train_seconds": metrics["train_seconds"],
                "wall_seconds": res["wall_seconds"],
                "test_ndcg@10": round(metrics["test"]["ndcg@10"], 4),
            }
    for key in ("encode", "sasrec_epoch", "laser_epoch"):
        one, two = out[f"{key}_1"], out[f"{key}_2"]
        field = "seconds" if key == "encode" else "train_seconds"
        out[f"{key}_speedup_2_over_1"] = round(one[field] / two[field], 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("part", choices=["games", "prepare", "processes"])
    ap.add_argument("--raw", type=Path, help="games: the games_llmrank folder")
    ap.add_argument("--data", type=Path, help="processes: a prepared dataset (Scientific)")
    ap.add_argument("--games", type=Path, help="processes: prepared games (SASRec epochs at scale)")
    ap.add_argument("--work", type=Path, required=True, help="a scratch folder")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--llm", default="minilm", help="Laser's LLM for item encoding (minilm | smollm2)")
    ap.add_argument("--encode-items", default="0", help="items to encode (0: the whole catalog)")
    ap.add_argument(
        "--smollm2-items", default="512", help="games: SmolLM2 encodes this many items too (0: skip)"
    )
    ap.add_argument(
        "--floor-path", type=Path, help="prepare: a folder where polars and pyarrow are installed"
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    result = {"part": args.part, **globals()[f"part_{args.part}"](args)}
    result["total_seconds"] = round(time.perf_counter() - t0, 1)
    result["load_average_at_end"] = os.getloadavg()
    result["note"] = "2 cores shared with other jobs while measured: times are upper bounds"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(globals()[sys.argv[2]](*sys.argv[3:])))
    else:
        main()
