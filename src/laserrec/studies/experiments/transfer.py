"""Zero-shot and low-resource transfer (the Laser paper's Figure 3): Laser and Lite-LLM4Rec trained on a
source domain (``--data``) are carried to a target domain (``--target``) that offers 0%, 5%, ..., 100% of
its training users; SASRec and BERT4Rec are trained on each share; the text-only floor needs none.

- A share is ``data/fraction.py``'s ``keep_users`` of the target (the ``prepare --train-users`` option):
  nested user sets, every item under its id. Every model is tested on one fixed sample of the target's
  test users (``EVAL_USERS``, all users with the ``paper`` budget), so the points of a line compare.
- Laser at a share > 0: the source run's trained weights (M-Former, suffix, offset; ``init_from``) are
  fine-tuned on the share, M-Former reading a SASRec trained on that share.
- Laser at 0% (zero-shot): there is no ID model of the target, so M-Former reads, at every item of a
  prompt, the source ID model's mean item embedding — what laserrec reads for an item its ID model never
  saw (``models/unseen.py``) — and its prefix carries no collaborative signal. What transfers is the
  suffix, M-Former's queries and output, the offset, and the frozen LLM's reading of the target's text.
- Lite-LLM4Rec (with all-MiniLM-L6-v2 on both sides here, so the target's catalog encodes in minutes)
  at a share > 0 starts from the source's recommendation transformer and projection; its output layer has
  one row per target item, so it has no zero-shot point.
- The source SASRec and Laser are the cells ``sasrec`` and ``laser`` of ``main`` (the same settings):
  given the same ``--runs``, transfer reuses them.
- At the cpu budget every cell trained on a share gets the same training whatever the share (each
  model's ``transfer-share`` recipe, laid over the budget's settings), so neighbouring points differ by
  data, not by effort, and the experiment stays near two hours on two cores: the ID models and
  Lite-LLM4Rec see at most a fixed number of samples, and Laser is fine-tuned for one phase-2 epoch (the
  target's catalog encoded once by the source weights, the user side trained against it; every phase-1
  epoch would encode the whole catalog twice).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from laserrec.config import save_json
from laserrec.evaluation.evaluator import evaluate
from laserrec.models.base import CollaborativeEncoder
from laserrec.studies.experiments.budget import recipe_layer
from laserrec.studies.experiments.common import METRICS, compact
from laserrec.studies.experiments.plots import line_panels
from laserrec.studies.experiments.runner import Cell, Context

TITLE = "Zero-shot and low-resource transfer"
PARTIAL = True  # `--partial` / `--only`: a point whose cell has not run is left out
NEEDS_TARGET = True
SHARES = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)
EVAL_USERS = 2000
EVAL_SEED = 0
# fine-tuning starts from trained weights: no warm-up
FINE_TUNE = {"warmup_epochs": 0}
# the recipe whose keys a cell trained on a share lays over the budget's settings at the cpu budget (each
# model has one; every run's own test is on a small sample: the figures come from EVAL_USERS)
SHARE_RECIPE = "transfer-share"
LITE = {"llm": "minilm"}
MODELS = (("laser", "Laser (transferred)"), ("lite_llm4rec", "Lite-LLM4Rec (transferred)"),
          ("sasrec", "SASRec (target only)"), ("bert4rec", "BERT4Rec (target only)"))  # fmt: skip


class AverageItem(CollaborativeEncoder):
    """The zero-shot collaborative input: the source ID model's mean item embedding at every position."""

    def __init__(self, source_cf) -> None:
        self.hidden_size = source_cf.hidden_size
        with torch.no_grad():
            items = source_cf.item_states(torch.arange(1, source_cf.n_items + 1))  # (N, 1, d)
        self.mean_item = items.mean(0).float()  # (1, d)

    def sequence_states(self, history: torch.Tensor) -> torch.Tensor:
        return self.mean_item.expand(*history.shape, -1)  # (B, T, d)

    def item_states(self, items: torch.Tensor) -> torch.Tensor:
        return self.mean_item.expand(len(items), 1, -1)  # (B, 1, d)


def pct(share: float) -> str:
    return f"{round(share * 100):d}"


SOURCE_LASER, SOURCE_LITE = "laser", "source_lite_llm4rec"
TARGET_TEXT = "target_text_floor"  # the text floor on the target (``text_floor`` is the source's, in main)


def source_cells() -> list[Cell]:
    return [
        Cell("sasrec", "sasrec", label="SASRec (source)"),
        Cell(SOURCE_LASER, "laser", cf="sasrec", label="Laser (source)"),
        Cell(SOURCE_LITE, "lite_llm4rec", LITE, label="Lite-LLM4Rec (source)"),
    ]


def share_cells(ctx: Context, share: float) -> list[Cell]:
    data, p = share_data(ctx, share), pct(share)

    def on_share(model: str, **extra) -> dict:
        return (recipe_layer(model, SHARE_RECIPE) if ctx.budget.name != "paper" else {}) | extra

    laser, lite = str(ctx.run_dir(SOURCE_LASER)), str(ctx.run_dir(SOURCE_LITE))
    return [
        Cell(f"sasrec_{p}", "sasrec", on_share("sasrec"), data=data),
        Cell(f"bert4rec_{p}", "bert4rec", on_share("bert4rec"), data=data),
        Cell(
            f"laser_{p}",
            "laser",
            on_share("laser", **FINE_TUNE, init_from=laser),
            cf=f"sasrec_{p}",
            data=data,
        ),
        Cell(
            f"lite_llm4rec_{p}", "lite_llm4rec", on_share("lite_llm4rec", **LITE, init_from=lite), data=data
        ),
    ]


def share_data(ctx: Context, share: float) -> Path:
    """The target with ``share`` of its users (the whole target at 1.0), prepared once in OUT/data."""
    from laserrec.data.dataset import PreparedData
    from laserrec.data.fraction import keep_users

    if share == 1.0:
        return ctx.target
    folder = ctx.out / "data" / f"train-users-{pct(share)}"
    if not (folder / "meta.json").exists():
        keep_users(PreparedData.load(ctx.target), share, EVAL_SEED).save(folder)
    return folder


def target_users(ctx: Context):
    _, split = ctx.dataset(ctx.target)
    n = 0 if ctx.budget.name == "paper" else EVAL_USERS
    return split.test.sample(n, EVAL_SEED)


def scored(ctx: Context, name: str, build) -> dict:
    """Metrics of a model on the target sample, cached in OUT/target_eval/NAME.json."""
    path = ctx.out / "target_eval" / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    model = build()
    users = target_users(ctx)
    metrics, _ = evaluate(model, users, model.history_len, (10,), 64, False, ctx.progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_json(metrics, path)
    return metrics


def zero_shot_laser(ctx: Context):
    """The source Laser over the target's catalog, M-Former reading ``AverageItem``."""
    from laserrec.llm.backbone import shared_backbone
    from laserrec.models.laser.plus import laser_class
    from laserrec.training.loading import load_run

    source, _, _, _ = load_run(ctx.run_dir(SOURCE_LASER))
    target, _ = ctx.dataset(ctx.target)
    cfg = source.config
    model = laser_class(cfg)(
        cfg, target.n_items, target.items, shared_backbone(cfg.llm, cfg.dtype), AverageItem(source.cf)
    )
    own, theirs = model.trainable_state_dict(), source.trainable_state_dict()
    model.load_trainable_state_dict({**own, **{k: v for k, v in theirs.items() if k != "item_matrix"}})
    return model


def cell_names() -> list[str]:
    """Every cell's name (``--only`` checks against them)."""
    shares = [f"{name}_{pct(s)}" for s in SHARES if s > 0 for name, _ in MODELS]
    return [c.name for c in source_cells()] + shares + [TARGET_TEXT]


def run(ctx: Context) -> dict:
    from laserrec.training.loading import load_run

    source = [compact(ctx.run(c)) for c in source_cells()]
    points: dict[str, list] = {name: [] for name, _ in MODELS}
    for share in SHARES:
        if share == 0:  # the source Laser as it is (when it has run: a partial experiment may lack it)
            done = not ctx.results[SOURCE_LASER].get("not_run")
            points["laser"].append(scored(ctx, "laser_0", lambda: zero_shot_laser(ctx)) if done else None)
            for name in ("lite_llm4rec", "sasrec", "bert4rec"):
                points[name].append(None)
            continue
        for cell in share_cells(ctx, share):
            row = ctx.run(cell)
            model = cell.name.rsplit("_", 1)[0]
            build = lambda c=cell: load_run(ctx.run_dir(c))[0]  # noqa: E731
            points[model].append(None if row.get("not_run") else scored(ctx, cell.name, build))
    text = ctx.run(Cell(TARGET_TEXT, "text", data=ctx.target, label="text only (no training)"))
    text_metrics = scored(ctx, TARGET_TEXT, lambda: load_run(ctx.run_dir(TARGET_TEXT))[0])
    series = [
        {"model": name, "label": label, "points": [_short(p) for p in points[name]]} for name, label in MODELS
    ]
    series.append(
        {"model": "text_floor", "label": "text only", "points": [_short(text_metrics)] * len(SHARES)}
    )
    rows = source + [compact(r) for r in ctx.results.values() if r["cell"] not in {s["cell"] for s in source}]
    return {
        "shares": list(SHARES),
        "series": series,
        "eval_users": len(target_users(ctx)),
        "source_rows": source,
        "rows": rows,
        "text_floor_all_users": compact(text).get("test"),
    }


def _short(metrics: dict | None) -> dict | None:
    return None if metrics is None else {k: round(metrics[k], 5) for k in METRICS}


def table(payload: dict) -> str:
    shares = " | ".join(f"{pct(s)}%" for s in payload["shares"])
    lines = [
        f"Every point is tested on the same {payload['eval_users']:,} target test users (NDCG@10; "
        "Recall@10 in results.json).",
        "",
        f"| model | {shares} |",
        "|---|" + "---|" * len(payload["shares"]),
    ]
    for s in payload["series"]:
        cols = " | ".join("–" if p is None else f"{p['ndcg@10']:.4f}" for p in s["points"])
        lines.append(f"| {s['label']} | {cols} |")
    src = " · ".join(
        f"{r['label']} {r['test']['ndcg@10']:.4f}" if "test" in r else f"{r['label']} not run yet"
        for r in payload["source_rows"]
    )
    return "\n".join(lines + ["", f"Source-domain test NDCG@10: {src}."])


def figure(payload: dict, path: Path) -> None:
    xs = [100 * s for s in payload["shares"]]
    panels = [
        (
            "target training users (%)",
            xs,
            {s["label"]: [None if p is None else p[metric] for p in s["points"]] for s in payload["series"]},
        )
        for metric in ("recall@10", "ndcg@10")
    ]
    line_panels(
        panels, path, "Transfer to the target domain (left: Recall@10, right: NDCG@10)", "test metric"
    )
