"""``laserrec bench`` results a person can read."""

from __future__ import annotations


def bench_table(r: dict) -> str:
    """``laserrec bench`` results as two markdown tables: the headline numbers, then the levers."""
    rows = [
        (
            f"matmul ceiling bf16 / fp32 (GFLOP/s; the fast path runs {r.get('dtype', 'bf16')})",
            f"{r['matmul_gflops_bf16'] or 'not native'} / {r['matmul_gflops_fp32']}",
        ),
        ("training (user prompts/s, MFU)", f"{r['train_prompts_per_s']:.2f}, {r['train_mfu']:.1%}"),
        (
            "item encoding (prompts/s, MFU)",
            f"{r['item_encode_prompts_per_s']:.2f}, {r['item_encode_mfu']:.1%}",
        ),
        (
            "user encoding (prompts/s, MFU)",
            f"{r['user_encode_prompts_per_s']:.2f}, {r['user_encode_mfu']:.1%}",
        ),
        (f"full evaluation of {r['full_eval_users']} users (s)", f"{r['full_eval_seconds']:.1f}"),
        (
            f"encoding the catalog, {r['catalog_items']} items (s, est.)",
            f"{r['catalog_encode_seconds_estimate']}",
        ),
        ("peak RSS (GB)", f"{r['peak_rss_gb']:.2f}"),
        ("plain path time / fast path time", f"{r['plain_vs_fast_ratio']}"),
    ]
    lines = ["| measurement | value |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows), ""]
    lines += ["| lever | setting | prompts/s | MFU | × baseline | note |", "|---|---|---|---|---|---|"]
    for lv in r["levers"]:
        notes = [f"compile {lv['compile_seconds']} s"] if "compile_seconds" in lv else []
        if "train_mfu" in lv:
            notes.append(
                f"training: MFU {lv['train_mfu']:.1%}, × baseline {lv.get('train_speed_vs_baseline', 1.0)}"
            )
        note = lv.get("error") or "; ".join(notes)
        mfu = f"{lv['mfu']:.1%}" if lv.get("mfu") else ""
        lines.append(
            f"| {lv['lever']} | {lv['setting']} | {lv.get('prompts_per_s', '')} | {mfu} | "
            f"{lv.get('speed_vs_baseline', '')} | {note} |"
        )
    return "\n".join(lines)
