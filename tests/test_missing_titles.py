"""Real catalogs have holes: items without a title are counted by prepare, and the LLM models name them by
what they have instead of refusing the dataset."""

from __future__ import annotations

import json

import pytest

from cli_run import run
from laserrec.data.dataset import PreparedData
from laserrec.models.prompt import item_line
from laserrec.models.registry import get_spec
from laserrec.training.loading import load_frozen_cf


@pytest.fixture
def holey(tmp_path):
    """A catalog of 6 items, 2 of them without a title (one has a description, one nothing at all)."""
    items = {
        str(i): {"title": f"widget {i}", "brand": "Acme", "categories": ["Tools", "Saws"]} for i in range(6)
    }
    items["2"] = {"title": "", "brand": "Acme", "description": "a saw for tiny logs"}
    items["4"] = {"title": "  "}
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "S.item.json").write_text(json.dumps(items))
    seqs = {f"u{u}": [str((u + k) % 6) for k in range(5)] for u in range(8)}
    (tmp_path / "raw" / "S.inter.json").write_text(json.dumps(seqs))
    code, out = run("prepare", tmp_path / "raw", "--out", tmp_path / "data")
    assert code == 0, out
    return tmp_path / "data", out


def test_prepare_reports_the_items_without_a_title(holey):
    assert '"items_without_title": 2' in holey[1]  # the summary's warnings line


def test_an_items_line_is_built_from_what_it_has(holey):
    holey = PreparedData.load(holey[0])
    lines = {holey.item_ids[i - 1]: item_line(1, holey.items[i]) for i in range(1, holey.n_items + 1)}
    assert lines["0"] == "\n>> 1. widget 0 (brand: Acme, category: Saws)"
    assert lines["2"] == "\n>> 1. a saw for tiny logs (brand: Acme)"
    assert lines["4"] == "\n>> 1. untitled item"


@pytest.mark.parametrize(
    "model,config",
    [
        ("laser", dict(prefix_source="learned", d_model=16, n_heads=2, n_prefix=2)),
        ("darec", dict(item_dim=16, adapter_size=4)),
        ("lite_llm4rec", dict(rec_hidden=16, rec_heads=2, rec_intermediate=16)),
    ],
)
def test_every_llm_model_builds_on_a_catalog_with_untitled_items(holey, model, config, tiny_llama):
    spec = get_spec(model)
    config = spec.config_cls(llm=tiny_llama, dtype="fp32", **config)
    net = spec.build(config, PreparedData.load(holey[0]), load_frozen_cf)
    assert net.n_items == 6
