"""The main job, end to end: obtain data -> prepare -> train the ID models, the text floor and the fusion
-> train Laser -> one table.

``laserrec quickstart`` runs it on the built-in default (ml-100k from the recbole wheel on PyPI);
``laserrec compare`` runs the same steps on any prepared dataset and skips runs that already finished.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from laserrec.config import parse_overrides, save_json
from laserrec.data.dataset import PreparedData
from laserrec.errors import ConfigError
from laserrec.inference.recommender import write_index
from laserrec.training.runs import train_run

log = logging.getLogger(__name__)

# The default line-up of the main job (documented in the README): the text-only floor and the late fusion of
# SASRec with it beside the three trained models, so the table shows what Laser has to beat. Each names a
# recipe (a file beside the model): SASRec and BERT4Rec ``quickstart`` (40 epochs; SASRec on whole
# sequences), Laser ``quickstart`` (its default recipe for a fixed number of steps: the same table on any
# machine of one kind); text and fusion need none (seconds). "{out}" is the comparison folder: the fusion
# and Laser read the SASRec run trained just before them.
QUICKSTART: dict = {
    "models": ["sasrec", "bert4rec", "text", "fusion", "laser"],
    "settings": {
        "sasrec": {"recipe": "quickstart"},
        "bert4rec": {"recipe": "quickstart"},
        "fusion": {"cf_run": "{out}/sasrec"},
        "laser": {"recipe": "quickstart", "cf_run": "{out}/sasrec"},
    },
}


# `laserrec compare`: every model at its own default recipe; Laser and the fusion read the SASRec run of the
# same comparison folder.
COMPARE: dict = {"settings": {"laser": {"cf_run": "{out}/sasrec"}, "fusion": {"cf_run": "{out}/sasrec"}}}


def model_settings(base: dict[str, dict], items: list[str]) -> dict[str, dict]:
    """``base`` updated by ``["laser.llm=minilm", ...]`` (MODEL.KEY=VALUE); ``base`` is not changed."""
    out = {model: dict(values) for model, values in base.items()}
    for model_key, value in parse_overrides(items).items():
        model, dot, key = model_key.partition(".")
        if not dot or not key:
            raise ConfigError(f"--set {model_key}={value}: expected MODEL.KEY=VALUE, e.g. laser.llm=minilm")
        out.setdefault(model, {})[key] = value
    return out


def obtain_dataset(name: str, dest: str | Path) -> Path:
    """Download (checksum-verified) and prepare a packaged dataset; reuse it if already prepared."""
    from laserrec.data.download import get_dataset
    from laserrec.data.prepare import prepare_dataset, summary

    prepared = Path(dest) / name / "prepared"
    if (prepared / "meta.json").exists():
        log.info(f"{name}: using the prepared dataset in {prepared}")
        return prepared
    raw = get_dataset(name, dest)
    log.info(summary(prepare_dataset(raw, prepared, name=name)))
    log.info(f"{name}: raw files in {raw}, prepared dataset in {prepared}")
    return prepared


def run_or_reuse(
    model: str, data_dir: Path, out: Path, overrides: dict, recipe: str | None = None, progress: bool = True
) -> dict:
    """Train ``model`` into ``out``; a finished run is reused, an interrupted one resumed — if it is a run of
    ``model`` on the dataset in ``data_dir`` (checked by the dataset's content hash)."""
    if (out / "config.json").exists():
        _check_reusable(model, data_dir, out)
    if (out / "metrics.json").exists():
        log.info(f"{model}: reusing the finished run in {out}")
        result = json.loads((out / "metrics.json").read_text())
        if "inference" not in result:  # a run made by `laserrec train`: add its inference speed
            result["inference"] = measure_inference(out)
            save_json(result, out / "metrics.json")
        return result
    start = time.perf_counter()
    resume = (out / "last.pt").exists()
    result = train_run(
        model, data_dir, out, overrides=overrides, recipe=recipe, resume=resume, progress=progress,
        on_trained=write_index,
    )  # fmt: skip
    # a resumed run: this call saw only its end; add what the earlier calls spent fitting
    earlier = max(0.0, result["fit_wall_seconds"] - result["wall_seconds_this_process"]) if resume else 0.0
    result["wall_seconds"] = round(time.perf_counter() - start + earlier, 1)
    result["inference"] = measure_inference(out)
    save_json(result, out / "metrics.json")
    return result


def _check_reusable(model: str, data_dir: Path, out: Path) -> None:
    """The run in ``out`` is of ``model``, on this dataset, and its --cf run (if any) is unchanged."""
    from laserrec.training.inputs import find_cf, short, stored_hash
    from laserrec.training.loading import read_run_config

    run_config = read_run_config(out)
    if run_config["model"] != model:
        raise ConfigError(f"{out} holds a {run_config['model']} run, not {model}; choose another --out")
    recorded = run_config.get("data_hash")
    now = stored_hash(data_dir) or PreparedData.load(data_dir).known_hash()  # compare() checked the files
    if recorded and recorded != now:
        raise ConfigError(
            f"{out} holds a run on another dataset (content hash {short(recorded)}; {data_dir} has "
            f"{short(now)}); choose another --out for this dataset"
        )
    find_cf(out, run_config)


def measure_inference(run_dir: Path) -> dict:
    """Users scored and items encoded per second by the trained model (see inference/speed.py)."""
    from laserrec.data.dataset import leave_one_out
    from laserrec.inference.speed import inference_speed
    from laserrec.training.loading import load_run

    net, data, _, _ = load_run(run_dir)
    return inference_speed(net, leave_one_out(data).test)


def parse_entry(entry: str) -> tuple[str, str]:
    """``"laser"`` -> ("laser", "laser"); ``"laser_smollm2:laser"`` -> run folder/label and model name."""
    name, _, model = entry.partition(":")
    name, model = name.strip(), (model or name).strip()
    if not name or not model:
        raise ConfigError(f"model entry {entry!r}: expected MODEL or RUN_NAME:MODEL")
    return name, model


def compare(
    data_dir: str | Path,
    out: str | Path,
    models: list[str],  # model names, or RUN_NAME:MODEL to hold several runs of one model
    settings: dict[str, dict],  # overrides per model name and per run name (the latter win); the key
    # "recipe" names the run's recipe (default: the model's own)
    progress: bool = True,
) -> str:
    """Train what is missing, then write results.md / results.json in ``out`` and return the table."""
    out, data_dir = Path(out), Path(data_dir)
    out.mkdir(parents=True, exist_ok=True)
    PreparedData.load(data_dir)  # fail early on a bad folder
    rows = []
    for entry in models:
        name, model = parse_entry(entry)
        merged = {**settings.get(model, {}), **settings.get(name, {})}
        values = {k: v.format(out=out) if isinstance(v, str) else v for k, v in merged.items()}
        recipe = values.pop("recipe", None)
        row = run_or_reuse(model, data_dir, out / name, values, recipe, progress)
        rows.append({**row, "label": name} if name != model else row)
    table = metrics_table(rows)
    (out / "results.md").write_text(
        f"# Results on {data_dir}\n\nFull ranking over all items, leave-one-out, test split.\n\n{table}\n",
        encoding="utf-8",
    )
    save_json({"data": str(data_dir), "rows": rows}, out / "results.json")
    return table


def metrics_table(rows: list[dict], split: str = "test") -> str:
    """Rows are metrics.json dicts (``{"model", split: {...}, "train_seconds"}``)."""
    lines = [
        f"| model | {split} Recall@10 | NDCG@10 | MRR | users | history masked | train time "
        "| users/s | items/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    nan = float("nan")
    for r in rows:
        m = r.get(split, {})
        seconds = r.get("wall_seconds", r.get("train_seconds"))
        lines.append(
            f"| {r.get('label', r['model'])} | {m.get('recall@10', nan):.4f} | {m.get('ndcg@10', nan):.4f} | "
            f"{m.get('mrr', nan):.4f} | {m.get('users', '-')} | {'yes' if m.get('mask_seen') else 'no'} | "
            f"{_duration(seconds)} | {_speed(r, 'users_per_second')} | {_speed(r, 'items_per_second')} |"
        )
    return "\n".join(lines)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def _speed(row: dict, key: str) -> str:
    value = row.get("inference", {}).get(key)
    if value is None:
        return "lookup" if key == "items_per_second" and "inference" in row else "-"
    return f"{value:,.1f}"


def showcase(
    out: str | Path, models: tuple[str, ...] = ("laser", "sasrec"), users: int = 2, k: int = 5
) -> str:
    """For the first ``users`` test users: their last five items and each model's top-k (history items
    left out), with titles, and the command that recommends for any history."""
    import laserrec

    out = Path(out)
    recs = {m: laserrec.load(out / m) for m in models if (out / m / "best.pt").exists()}
    if not recs:
        return ""
    first = next(iter(recs.values()))
    lines = []
    for user in first.data.user_ids[:users]:
        history = first.history_of(user)[:-1]  # what the test step sees
        lines.append(f"user {user}: the last five of {len(history)} items")
        lines += [f"    {i}  {first.item(i)['title']}" for i in history[-5:]]
        for model, rec in recs.items():
            top = rec.recommend(history, k=k, exclude_history=True)
            lines.append(f"  {model} top {k}: " + "; ".join(i["title"] for i in top))
    example = ",".join(first.history_of(first.data.user_ids[0])[-3:])
    lines.append(
        f"recommend for any history: laserrec recommend {out / next(iter(recs))} --history {example}"
    )
    return "\n".join(lines)
