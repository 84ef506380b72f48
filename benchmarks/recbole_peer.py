"""RecBole 1.2.1 next to laserrec: SASRec and BERT4Rec, same data, same split, same stopping rule.

    python benchmarks/recbole_peer.py --data /tmp/prep/scientific --out benchmarks/results/recbole_peer.json \
        --to-convergence                # both sides until 10 epochs without a better valid NDCG@10
    python benchmarks/recbole_peer.py --data /tmp/prep/scientific --out ... --epochs 5   # s/epoch only

RecBole is never a dependency of laserrec: it is installed into a throw-away virtual environment
(``--venv``, built on first use: torch==2.13.0, recbole==1.2.1, then the NumPy/pandas/SciPy/scikit-learn
pins its code needs). The prepared dataset is written as an atomic ``.inter`` file (internal ids, the
position in the sequence as timestamp), and RecBole runs with the peer settings
(leave-one-out by time, full ranking, train batch 2048, eval batch 4096, stopping_step 10).
Ours runs through ``laserrec.training.runs.train_run`` with its defaults (= RecBole's model defaults),
patience 10 on valid NDCG@10, eval batch 4096. Every run is its own subprocess (peak RSS). Both sides
use the same seed, 2020 unless ``--seeds`` lists several (then one after another, and mean ± std).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peer_inputs import ensure_venv, write_inputs  # this folder: the script's own sys.path entry
from peer_report import over_seeds, table, write_json

RECBOLE_SETTINGS = {
    "USER_ID_FIELD": "user_id",
    "ITEM_ID_FIELD": "item_id",
    "TIME_FIELD": "timestamp",
    "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
    "user_inter_num_interval": "[0,inf)",
    "item_inter_num_interval": "[0,inf)",
    "MAX_ITEM_LIST_LENGTH": 50,
    "train_neg_sample_args": None,
    "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user", "mode": "full"},
    "repeatable": True,
    "metrics": ["Recall", "NDCG", "MRR", "Hit"],
    "topk": [10],
    "valid_metric": "NDCG@10",
    "stopping_step": 10,
    "train_batch_size": 2048,
    "eval_batch_size": 4096,
    "use_gpu": False,
    "show_progress": False,
}
OURS_SETTINGS = {
    "patience": 10,
    "valid_metric": "ndcg@10",
    "valid_users": 0,
    "eval_batch_size": 4096,
}
MODELS = {"sasrec": "SASRec", "bert4rec": "BERT4Rec"}
MAX_EPOCHS = 300  # RecBole's default `epochs`; the cap of a --to-convergence run on both sides
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(2**30), "MALLOC_TRIM_THRESHOLD_": str(2**30)}


def median(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 3) if xs else None


def peak_rss_gb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)


# --------------------------------------------------------------------------- RecBole (in the venv)
class TimeCap(Exception):
    """Raised at an epoch start once RecBole has trained longer than --recbole-cap-min."""


def run_recbole(model: str, data_path: str, epochs: int, cap_seconds: float = 0.0, seed: int = 2020) -> dict:
    """One RecBole training + test run, the steps of run_recbole without recbole.quick_start (ray).

    ``cap_seconds`` > 0 stops training at the first epoch start past it (then tests the best checkpoint):
    the time to early stopping is then known only to exceed the time spent."""
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    settings = {
        **RECBOLE_SETTINGS,
        "data_path": data_path,
        "epochs": epochs,
        "checkpoint_dir": "saved",
        "seed": seed,
    }
    config = Config(model=MODELS[model], dataset="peer", config_dict=settings)
    init_seed(config["seed"], config["reproducibility"])
    start = time.perf_counter()
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    data_seconds = time.perf_counter() - start
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    net = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, net)
    train_times, valid_times, scores = [], [], []
    train_epoch, valid_epoch = trainer._train_epoch, trainer._valid_epoch

    def timed_train(*args, **kwargs):
        if cap_seconds and time.perf_counter() - start > cap_seconds:
            raise TimeCap
        t0 = time.perf_counter()
        out = train_epoch(*args, **kwargs)
        train_times.append(time.perf_counter() - t0)
        return out

    def timed_valid(*args, **kwargs):
        t0 = time.perf_counter()
        score, result = valid_epoch(*args, **kwargs)
        valid_times.append(time.perf_counter() - t0)
        scores.append(float(score))
        return score, result

    trainer._train_epoch, trainer._valid_epoch = timed_train, timed_valid
    cpu0, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    try:
        trainer.fit(train_data, valid_data, saved=True, verbose=False, show_progress=False)
        stopped_by = "early stopping" if len(train_times) < epochs else "epoch cap"
    except TimeCap:
        stopped_by = "time cap"
    fit_seconds, cpu1 = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    test = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    samples = len(train_data._dataset)  # one (history, next item) sample per training target
    return {
        "epochs_run": len(train_times),
        "stopped_by": stopped_by,
        "best_epoch": scores.index(max(scores)) if scores else None,
        "valid_ndcg@10_all": [round(s, 5) for s in scores],  # the curve: was it still rising at the stop?
        "epoch_seconds_median": median(train_times),
        "epoch_seconds_all": [round(t, 2) for t in train_times],
        "valid_seconds_median": median(valid_times),
        "train_seconds": round(sum(train_times), 2),
        "fit_seconds": round(fit_seconds, 2),
        "fit_user_cpu_s": round(cpu1.ru_utime - cpu0.ru_utime, 1),
        "fit_sys_cpu_s": round(cpu1.ru_stime - cpu0.ru_stime, 1),
        "data_seconds": round(data_seconds, 2),
        "test_seconds": round(time.perf_counter() - start, 2),
        "test": {k: round(float(v), 5) for k, v in test.items()},
        "train_samples": samples,
        "train_targets_per_step": round(samples / -(-samples // config["train_batch_size"]), 1),
        "items": dataset.item_num - 1,  # without RecBole's [PAD]
        "peak_rss_gb": peak_rss_gb(),
    }


# --------------------------------------------------------------------------- ours (system python)
def run_ours(model: str, data_dir: str, epochs: int, run_dir: str, batch_size: int, seed: int = 2020) -> dict:
    import torch

    from laserrec.data.dataset import leave_one_out
    from laserrec.evaluation.evaluator import evaluate
    from laserrec.training.loading import load_run
    from laserrec.training.runs import train_run
    from laserrec.training.samples import SampleSet

    overrides = {
        **OURS_SETTINGS,
        "epochs": epochs,
        "seed": seed,
        **({"batch_size": batch_size} if batch_size else {}),
    }
    start = time.perf_counter()
    res = train_run(model, data_dir, run_dir, overrides=overrides, progress=False)
    wall = time.perf_counter() - start
    log = [json.loads(line) for line in Path(run_dir, "log.jsonl").read_text().splitlines()]
    cumulative = [0.0] + [row["train_seconds"] for row in log]
    epoch_times = [b - a for a, b in zip(cumulative, cumulative[1:], strict=False)]
    valid_times = [row["seconds"] for row in log if "seconds" in row]
    net, data, cfg, _ = load_run(run_dir)
    split = leave_one_out(data)
    _, ranks = evaluate(net, split.test, net.history_len, (10,), cfg.eval_batch_size, progress=False)
    mrr10 = torch.where(ranks < 10, 1.0 / (ranks.double() + 1), torch.zeros((), dtype=torch.float64))
    targets = sum(max(0, len(s) - 1) for s in split.train)
    steps = SampleSet(split.train, net.train_mode, net.history_len, cfg.seed).n_batches(cfg.batch_size)
    return {
        "epochs_run": res["epochs_run"],
        "best_epoch": res["best_epoch"],
        "epoch_seconds_median": median(epoch_times),
        "epoch_seconds_all": [round(t, 2) for t in epoch_times],
        "valid_seconds_median": median(valid_times),
        "train_seconds": res["train_seconds"],
        # training + validation until the stop (+ loading the best checkpoint, well under a second)
        "fit_seconds": round(
            res["wall_seconds_this_process"] - res["valid"]["seconds"] - res["test"]["seconds"], 2
        ),
        "data_seconds": round(wall - res["wall_seconds_this_process"], 2),
        "test": {
            "recall@10": round(res["test"]["recall@10"], 5),
            "ndcg@10": round(res["test"]["ndcg@10"], 5),
            "mrr@10": round(mrr10.mean().item(), 5),
            "mrr": round(res["test"]["mrr"], 5),
        },
        "train_mode": net.train_mode,  # prefix: every prefix its own sample; sequence: whole sequences
        "train_targets": targets,
        "batch_size": cfg.batch_size,
        "train_targets_per_step": round(targets / steps, 1),
        "peak_rss_gb": peak_rss_gb(),
    }


# --------------------------------------------------------------------------- orchestration
def spawn(cmd: list[str], env: dict, cwd: Path) -> dict:
    """Run one measurement in its own process; its result is the last line of its stdout."""
    print(f"  running {cmd[2].removesuffix('-child').lstrip('-')} {cmd[3]}", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return {"error": (lines[-1] if lines else f"exit status {proc.returncode}")[:400]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ratio(ours: dict, peer: dict, key: str) -> float | None:
    if "error" in ours or "error" in peer or not ours.get(key) or not peer.get(key):
        return None
    return round(ours[key] / peer[key], 3)


def compare_seed(args: argparse.Namespace, seed: int, epochs: int, work: Path, inputs: tuple) -> dict:
    """Both sides on every model with one seed: ``{model: {recbole, ours}, <model>_..._ratio...}``."""
    venv_python, prepared, recbole_path = inputs
    env = {
        "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1",
        "TQDM_DISABLE": "1",
        **(MALLOC_ENV if args.malloc else {}),
    }
    me, result = str(Path(__file__).resolve()), {}
    for model in args.models.split(","):
        peer = spawn(
            [str(venv_python), me, "--recbole-child", model, "--data", str(recbole_path),
             "--epochs", str(epochs), "--recbole-cap-min", str(args.recbole_cap_min), "--seed", str(seed)],
            env,
            work,
        )  # fmt: skip
        ours = spawn(
            [sys.executable, me, "--ours-child", model, "--data", str(prepared), "--epochs", str(epochs),
             "--run-dir", str(work / f"ours-{model}-{seed}"), "--batch-size", str(args.batch_size),
             "--seed", str(seed)],
            env,
            work,
        )  # fmt: skip
        basis = "epoch_seconds_median" if args.epochs is not None else "fit_seconds"
        result[f"{model}_train_ratio_vs_recbole"] = ratio(ours, peer, basis)
        # RecBole stopped by the cap had not converged: its true time is longer, our ratio smaller.
        result[f"{model}_train_ratio_is_upper_bound"] = peer.get("stopped_by") == "time cap"
        result[f"{model}_eval_ratio_vs_recbole"] = ratio(ours, peer, "valid_seconds_median")
        result[model] = {"recbole": peer, "ours": ours}
    return result


def compare(args: argparse.Namespace) -> dict:
    """Every seed of ``--seeds`` in turn; the JSON is rewritten after each seed, and seeds already in
    ``--out`` from a run with the same settings are kept rather than rerun (an interrupted run resumes)."""
    from laserrec.models.sasrec.config import SASRecConfig

    per_epoch = args.epochs is not None
    epochs = args.epochs if per_epoch else MAX_EPOCHS
    seeds = args.seeds
    venv_python = ensure_venv(Path(args.venv))
    head = {
        "data": args.data,
        "mode": "per_epoch" if per_epoch else "to_convergence",
        "epochs_cap": epochs,
        "recbole_cap_minutes": args.recbole_cap_min or None,
        "models": args.models,
        "sample_users": args.sample_users,
        "batch_size": args.batch_size,
        "malloc_tuned": args.malloc,
        # our SASRec's training samples by default (a seed kept from a run made before this changed is rerun)
        "ours_sasrec_train_mode": SASRecConfig().train_mode,
    }
    out = Path(args.out)
    old = json.loads(out.read_text()) if out.is_file() else {}
    by_seed = old.get("by_seed", {}) if all(old.get(k) == v for k, v in head.items()) else {}
    work = Path(tempfile.mkdtemp(prefix="recbole-peer-"))
    try:
        prepared, recbole_path, summary = write_inputs(args.data, work, args.sample_users)
        for seed in seeds:
            if str(seed) in by_seed:
                print(f"seed {seed}: kept from {out}", file=sys.stderr, flush=True)
                continue
            print(f"seed {seed}", file=sys.stderr, flush=True)
            by_seed[str(seed)] = compare_seed(args, seed, epochs, work, (venv_python, prepared, recbole_path))
            write_json(out, payload(args, head, summary, seeds, by_seed))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return payload(args, head, summary, seeds, by_seed)


def payload(args: argparse.Namespace, head: dict, summary: dict, seeds: list[int], by_seed: dict) -> dict:
    """The first seed's comparison at the top level (as a one-seed run writes it), every seed's under
    ``by_seed``, and with several seeds their mean ± standard deviation under ``over_seeds``."""
    first = by_seed.get(str(seeds[0]), {})
    return {
        **head,
        "sample": summary,
        "seed": seeds[0],
        "seeds": [s for s in seeds if str(s) in by_seed],
        "train_ratio_basis": (
            "median seconds per training epoch (ours / RecBole)"
            if args.epochs is not None
            else "seconds of training + validation until early stopping (ours / RecBole)"
        ),
        "eval_ratio_basis": "median seconds per full validation pass, every valid user (ours / RecBole)",
        "protocol": "leave-one-out by time, full ranking over every item, history not masked (RecBole "
        "masks nothing for sequential models either); test mrr@10 on both sides, ours also full mrr",
        "recbole_settings": RECBOLE_SETTINGS,
        "ours_settings": OURS_SETTINGS,
        **first,
        "by_seed": by_seed,
        **({"over_seeds": over_seeds(by_seed, MODELS)} if len(by_seed) > 1 else {}),
    }


def seed_list(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"integers separated by commas, got {text!r}") from None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="prepared dataset folder (laserrec prepare)")
    parser.add_argument("--out", default="benchmarks/results/recbole_peer.json")
    parser.add_argument("--epochs", type=int, help="cap both sides at N epochs: compares seconds per epoch")
    parser.add_argument(
        "--to-convergence", action="store_true", help=f"train until early stopping (<= {MAX_EPOCHS})"
    )
    parser.add_argument(
        "--recbole-cap-min",
        type=float,
        default=0.0,
        help="stop RecBole's training after this many minutes (0 = never); its time to convergence is then "
        "a lower bound and our ratio an upper bound (marked in the JSON)",
    )
    parser.add_argument("--models", default="sasrec,bert4rec")
    parser.add_argument("--venv", default="/tmp/recbole-venv", help="throw-away environment for RecBole")
    parser.add_argument("--sample-users", type=int, default=0, help="random sample of users (0 = all)")
    parser.add_argument("--batch-size", type=int, default=0, help="our training batch (0 = our default)")
    parser.add_argument(
        "--malloc", action="store_true", help="glibc mmap/trim thresholds 1 GiB on both sides"
    )
    parser.add_argument(
        "--seeds",
        type=seed_list,
        default=[2020],
        help="comma-separated seeds, run one after another on both sides (mean ± std over them); seeds "
        "already in --out from a run with the same settings are kept",
    )
    parser.add_argument("--keep", action="store_true", help="keep the working folder (runs, .inter file)")
    parser.add_argument("--seed", type=int, default=2020, help=argparse.SUPPRESS)
    parser.add_argument("--recbole-child", help=argparse.SUPPRESS)
    parser.add_argument("--ours-child", help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.recbole_child:
        print(
            json.dumps(
                run_recbole(args.recbole_child, args.data, args.epochs, args.recbole_cap_min * 60, args.seed)
            )
        )
        return
    if args.ours_child:
        print(
            json.dumps(
                run_ours(args.ours_child, args.data, args.epochs, args.run_dir, args.batch_size, args.seed)
            )
        )
        return
    if (args.epochs is None) == (not args.to_convergence):
        parser.error("give exactly one of --epochs N (seconds per epoch) or --to-convergence")
    result = compare(args)
    write_json(Path(args.out), result)
    print(table(result, MODELS))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
