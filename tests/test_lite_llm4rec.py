"""Lite-LLM4Rec on tiny offline backbones: head shape, item deduplication, cache, freezing, training run."""

import json

import pytest
import torch

from conftest import make_data
from laserrec.models.base import Batch
from laserrec.models.lite_llm4rec.config import LiteLLM4RecConfig
from laserrec.models.lite_llm4rec.model import LiteLLM4Rec
from laserrec.models.registry import get_spec
from laserrec.training.loading import load_run
from laserrec.training.runs import train_run
from tiny_backbones import build_tiny_backbone

DATA = make_data(n_users=12, n_items=9)
HISTORY = torch.tensor([[0, 0, 3, 5], [5, 3, 5, 7], [0, 1, 2, 3]])  # items 3 and 5 repeat across rows
TARGET = torch.tensor([6, 8, 4])
SMALL = dict(llm="tiny", dtype="fp32", max_history=4, rec_hidden=16, rec_heads=2, rec_intermediate=32)


def make(**overrides) -> LiteLLM4Rec:
    torch.manual_seed(0)
    return LiteLLM4Rec(
        LiteLLM4RecConfig(**{**SMALL, **overrides}), DATA.n_items, DATA.items, build_tiny_backbone("llama")
    )


def spy(model: LiteLLM4Rec) -> list[list[int]]:
    """Record the item ids of every call to the item LLM."""
    calls, real = [], model.encode_items

    def encode(ids):
        calls.append(ids.tolist())
        return real(ids)

    model.encode_items = encode
    return calls


@pytest.mark.parametrize("rec_llm", ["small", "backbone"])
def test_projection_head_scores_every_item(rec_llm):
    model = make(rec_llm=rec_llm).eval()
    scores = model.full_sort_predict(Batch(HISTORY, TARGET))
    assert scores.shape == (3, DATA.n_items + 1)
    assert torch.isinf(scores[:, 0]).all() and torch.isfinite(scores[:, 1:]).all()


def test_trainable_item_llm_encodes_each_distinct_item_once_per_step():
    model = make(item_llm_mode="trainable").train()
    calls = spy(model)
    model.calculate_loss(Batch(HISTORY, TARGET))
    assert calls == [[1, 2, 3, 5, 7]]  # 12 history slots, 5 distinct items, one forward


def test_frozen_item_llm_encodes_the_catalog_once():
    model = make(item_llm_mode="frozen_cached", item_batch_size=4).train()
    calls = spy(model)
    for _ in range(3):
        model.calculate_loss(Batch(HISTORY, TARGET))
    model.eval()
    model.prepare_for_eval()
    model.full_sort_predict(Batch(HISTORY, TARGET))
    assert sorted(i for call in calls for i in call) == list(range(1, DATA.n_items + 1))
    assert len(calls) == 3  # 9 items in batches of 4, all before the first step
    with torch.no_grad():
        every = model.encode_items(torch.arange(1, DATA.n_items + 1))
    standardised = (every - every.mean(0)) / every.std(0)  # per dimension, over the catalog
    torch.testing.assert_close(model.item_cache[1:], standardised, atol=1e-4, rtol=1e-4)
    assert not model.item_cache[0].any()


def test_left_padding_does_not_change_the_user():
    model = make().eval()
    with torch.no_grad():
        short = model.encode_users(torch.tensor([[4, 2]]))
        padded = model.encode_users(torch.tensor([[0, 0, 4, 2]]))
    torch.testing.assert_close(short, padded, atol=1e-5, rtol=1e-5)


def test_frozen_llm_unchanged_and_trained_parts_move_after_a_step():
    model = make(rec_llm="small").train()
    llm_before = {n: p.clone() for n, p in model.item_llm.named_parameters()}
    trained_before = {n: p.clone() for n, p in model.named_parameters() if p.requires_grad}
    assert not any(p.requires_grad for p in model.item_llm.parameters())
    assert all(n.startswith(("rec_llm.", "item_proj.", "head.")) for n in trained_before)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss, _ = model.calculate_loss(Batch(HISTORY, TARGET))
    loss.backward()
    opt.step()
    for n, p in model.item_llm.named_parameters():
        assert torch.equal(p, llm_before[n]), n
    params = dict(model.named_parameters())
    for name in ("head.weight", "item_proj.2.weight", "rec_llm.layers.0.mlp.up_proj.weight"):
        assert not torch.equal(params[name], trained_before[name]), name


def test_frozen_backbone_as_rec_llm_is_shared_and_only_projections_train():
    model = make(rec_llm="backbone")
    assert model.rec_llm is model.item_llm
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names == {
        "item_proj.0.weight",
        "item_proj.0.bias",
        "item_proj.2.weight",
        "item_proj.2.bias",
        "head.weight",
        "head.bias",
    }


def test_train_run_through_the_registry_and_reload(tmp_path, toy_dir, tiny_llama):
    overrides = dict(
        SMALL, llm=tiny_llama, epochs=2, batch_size=16, samples_per_epoch=64, eval_batch_size=64, threads=1
    )
    results = train_run("lite_llm4rec", toy_dir, tmp_path / "run", overrides=overrides, progress=False)
    assert 0.0 <= results["test"]["ndcg@10"] <= 1.0 and results["epochs_run"] == 2
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model_config"]["item_llm_mode"] == "frozen_cached"
    net, data, _, _ = load_run(tmp_path / "run")
    encodings = []  # the item cache came back with the checkpoint: no re-encoding on load
    net.refresh_item_cache = lambda: encodings.append(1)
    net.eval().prepare_for_eval()
    batch = Batch(torch.tensor([[1, 2, 3]]), torch.tensor([4]))
    assert net.full_sort_predict(batch).shape == (1, data.n_items + 1) and not encodings
    assert get_spec("lite_llm4rec").recipes["cpu"]["item_llm_mode"] == "frozen_cached"
