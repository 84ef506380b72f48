"""Laser's speed on this machine: matmul ceiling, training and encoding throughput with MFU, full
evaluation time, peak memory, the plain Hugging Face path next to Laser's fast path, and levers.

    python benchmarks/laser_speed.py --data /tmp/prep/scientific --cf runs/scientific/sasrec \
        --out benchmarks/results/laser_speed.json

Same as `laserrec bench`; the work is done by ``laserrec.bench`` (each measurement in a subprocess).
Extra --key=value arguments override Laser settings (e.g. --max_history=4). Run it on an idle machine.
"""

from __future__ import annotations

import argparse

from laserrec.bench import format_table, run_bench
from laserrec.config import parse_overrides


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="prepared dataset folder")
    parser.add_argument("--cf", help="run folder of a trained SASRec/BERT4Rec (default: a learned prefix)")
    parser.add_argument("--out", default="benchmarks/results/laser_speed.json")
    parser.add_argument("--llm", default="smollm2", help="smollm2 | minilm | tiny-llama | HF folder")
    parser.add_argument("--quick", action="store_true", help="tiny samples: checks that it runs")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = every core)")
    args, extra = parser.parse_known_args()
    result = run_bench(
        args.data, args.out, args.cf, args.llm, args.quick, parse_overrides(extra), args.threads
    )
    print(format_table(result))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
