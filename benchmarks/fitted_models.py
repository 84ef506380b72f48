"""The models fitted without gradient steps — most popular, the text-only floor and the late fusion of an ID
run with it — trained as run folders on one dataset, with their valid and test metrics, the fusion's text
weight and every weight's validation score; with ``--reference``, each set beside the same figures from the
experiments' scorers these models replaced (``OUT/scorers/NAME.json``, written by `laserrec experiment main
... --only most_popular,text_floor,fusion` at commit 4891884, the last that had them), and whether they are
equal.

    python benchmarks/fitted_models.py --data data/scientific --cf runs/sci/sasrec --out runs/fitted \
        --reference runs/exp/main-scorers/scorers --json benchmarks/results/fitted_models_scientific.json

Finished runs in OUT are reused. Test split, full ranking, history not masked, every user.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from laserrec.pipeline import run_or_reuse

MODELS = {"most_popular": "most_popular", "text": "text_floor", "fusion": "fusion"}  # model: scorer cell


def figures(row: dict) -> dict:
    """Every metric of the valid and test splits (users and protocol included), and what a fit chose."""
    out = {split: {k: v for k, v in row[split].items() if k != "seconds"} for split in ("valid", "test")}
    fitted = row.get("fitted")
    if fitted is None and "text_weight" in row:  # a scorer's record
        fitted = {"text_weight": row["text_weight"], "valid_by_weight": row["valid_ndcg@10_by_weight"]}
    return {
        **out,
        **({"fitted": {k: fitted[k] for k in ("text_weight", "valid_by_weight")}} if fitted else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="prepared dataset folder")
    parser.add_argument(
        "--cf", type=Path, required=True, help="the trained SASRec/BERT4Rec run the fusion reads"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the three runs")
    parser.add_argument("--reference", type=Path, help="the scorers' folder of an experiment made before")
    parser.add_argument("--json", type=Path, required=True, help="where to write the figures")
    args = parser.parse_args()
    cf_metrics = json.loads((args.cf / "metrics.json").read_text(encoding="utf-8"))
    result = {"data": args.data.name, "cf": {"run": args.cf.name, "test": figures(cf_metrics)["test"]}}
    rows = {}
    for model, cell in MODELS.items():
        start = time.perf_counter()
        settings = {"cf_run": str(args.cf)} if model == "fusion" else {}
        row = run_or_reuse(model, args.data, args.out / model, settings, progress=False)
        rows[model] = {"run": figures(row), "fit_wall_seconds": row["fit_wall_seconds"]}
        rows[model]["this_call_seconds"] = round(time.perf_counter() - start, 1)
        if args.reference:
            scorer = figures(json.loads((args.reference / f"{cell}.json").read_text(encoding="utf-8")))
            rows[model]["scorer"] = scorer
            rows[model]["equal"] = scorer == rows[model]["run"]
        test = rows[model]["run"]["test"]
        equal = f"; equal to the scorer's: {rows[model]['equal']}" if args.reference else ""
        print(f"{model}: test Recall@10 {test['recall@10']:.4f}, NDCG@10 {test['ndcg@10']:.4f}{equal}")
    result["rows"] = rows
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
