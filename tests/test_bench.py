"""``laserrec bench --quick`` end to end on a tiny model saved to a folder: every measurement process runs."""

import json

from conftest import make_data
from laserrec.studies.bench.run import run_bench


def test_quick_bench_runs_every_measurement_and_writes_the_json(tmp_path, tiny_llama):
    data = make_data(n_users=64, n_items=64).save(tmp_path / "data")  # the quick samples take 32 of each
    result = run_bench(data, tmp_path / "bench.json", llm=tiny_llama, quick=True, threads=1, levers=False)
    assert json.loads((tmp_path / "bench.json").read_text())["train_mfu"] == result["train_mfu"]
    rates = ("matmul_gflops_fp32", "train_prompts_per_s", "item_encode_prompts_per_s", "plain_vs_fast_ratio")
    assert all(result[key] > 0 for key in rates), {key: result[key] for key in rates}
    assert result["catalog_items"] == 64 and result["full_eval_users"] == 32
