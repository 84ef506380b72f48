"""DARec on tiny offline backbones: context mask, adapters, hard negatives, freezing, runs, layout search."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from conftest import make_data
from laserrec.errors import ConfigError
from laserrec.models.base import Batch
from laserrec.models.darec.adapters import LayerAdapters, decoder_layers
from laserrec.models.darec.config import DARecConfig
from laserrec.models.darec.inputs import TEXT, additive_mask, context_mask, layout
from laserrec.models.darec.model import DARec, hard_negative_loss
from laserrec.studies.adapter_search import search_adapter_layout
from laserrec.training.loading import build_model, load_run
from laserrec.training.runs import train_run
from tiny_backbones import build_tiny_backbone

DATA = make_data(n_users=12, n_items=9)
HISTORY = torch.tensor([[0, 0, 3, 5], [5, 3, 6, 7], [0, 1, 2, 3]])
TARGET = torch.tensor([6, 8, 4])
TINY = dict(llm="tiny", dtype="fp32", item_dim=16, adapter_size=4, adapter_dropout=0.0)
# a short run; each test adds llm=tiny_llama (a tiny model saved to a folder)
RUN = dict(TINY, epochs=1, batch_size=8, samples_per_epoch=16, eval_batch_size=64, threads=1)


def make(backbone=None, cf=None, **overrides) -> DARec:
    torch.manual_seed(0)
    backbone = backbone or build_tiny_backbone("llama")
    return DARec(DARecConfig(**{**TINY, **overrides}), DATA.n_items, DATA.items, backbone, cf)


# ---------------------------------------------------------------------- context mask
def test_context_mask_two_items_of_two_and_three_tokens():
    kinds = torch.full((1, 5), TEXT)
    segments = torch.tensor([[1, 1, 2, 2, 2]])
    expected = torch.tensor(
        [
            [1, 1, 0, 0, 0],
            [1, 1, 0, 0, 0],
            [1, 1, 1, 1, 1],
            [1, 1, 1, 1, 1],
            [1, 1, 1, 1, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(context_mask(kinds, segments)[0], expected)
    assert torch.equal(
        context_mask(kinds, segments, bidirectional=False)[0], expected.tril(0) | torch.eye(5, dtype=bool)
    )


def test_context_mask_with_cf_tokens_read_token_and_padding():
    ids, kinds, segments = layout([[[11, 12], [21, 22, 23]], [[31]]], n_cf=[3, 2], trail=[])
    assert ids.tolist() == [[0, 0, 0, 11, 12, 21, 22, 23, 0], [0, 0, 0, 0, 0, 0, 0, 31, 0]]
    mask = context_mask(kinds, segments).int()
    #                     CF CF CF i1 i1 i2 i2 i2 READ
    assert mask[0].tolist() == [
        [1, 1, 1, 0, 0, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0, 0, 0],
        [1, 1, 1, 1, 1, 0, 0, 0, 0],
        [1, 1, 1, 1, 1, 0, 0, 0, 0],
        [1, 1, 1, 1, 1, 1, 1, 1, 0],
        [1, 1, 1, 1, 1, 1, 1, 1, 0],
        [1, 1, 1, 1, 1, 1, 1, 1, 0],
        [1, 1, 1, 1, 1, 1, 1, 1, 1],
    ]
    #                     pad pad pad pad pad CF CF i1 READ
    assert mask[1].tolist() == [
        [1, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 1, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 1, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 1, 1, 1, 0],
        [0, 0, 0, 0, 0, 1, 1, 1, 1],
    ]


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_4d_mask_is_honoured_by_transformers_llama(attn):
    model = build_tiny_backbone("llama").model
    model.set_attn_implementation(attn)
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    kinds, segments = torch.full((1, 5), TEXT), torch.tensor([[1, 1, 2, 2, 2]])

    def run(ids, allowed=None):
        mask = None if allowed is None else additive_mask(allowed, torch.float32)
        return model(input_ids=ids, attention_mask=mask).last_hidden_state[0]

    causal = context_mask(kinds, segments, bidirectional=False)
    torch.testing.assert_close(run(ids, causal), run(ids))  # explicit causal 4-D mask = the built-in one
    item = context_mask(kinds, segments)
    changed = torch.tensor([[5, 1000, 7, 8, 9]])  # the second token of item 1
    assert not torch.allclose(run(ids, item)[0], run(changed, item)[0])  # item 1 reads its later token
    torch.testing.assert_close(run(ids, causal)[0], run(changed, causal)[0])
    later = torch.tensor([[5, 6, 7, 8, 1000]])  # item 2 never leaks into item 1
    torch.testing.assert_close(run(ids, item)[:2], run(later, item)[:2])


# ---------------------------------------------------------------------- adapters
def test_serial_and_parallel_adapters_match_a_hand_computation_on_one_layer():
    model = build_tiny_backbone("llama", num_hidden_layers=1).model
    layers = decoder_layers(model)
    x = torch.randn(1, 4, 32)
    seen = {}
    handle = layers[0].register_forward_hook(lambda m, a, out: seen.update(y=out))
    frozen = model(inputs_embeds=x).last_hidden_state
    handle.remove()
    adapters = LayerAdapters(["serial"], 32, 3)
    with adapters.attached(layers):
        torch.testing.assert_close(model(inputs_embeds=x).last_hidden_state, frozen)  # up starts at zero
    a = adapters.adapters[0]
    with torch.no_grad():
        for p in a.parameters():
            p.copy_(torch.randn_like(p))

    def adapter(v):  # up(gelu(down(v))), written out
        return F.gelu(v @ a.down.weight.T + a.down.bias) @ a.up.weight.T + a.up.bias

    out = {}
    for mode in ("serial", "parallel"):
        adapters.layout = [mode]
        with adapters.attached(layers), torch.no_grad():
            out[mode] = model(inputs_embeds=x).last_hidden_state
    y = seen["y"]
    with torch.no_grad():
        torch.testing.assert_close(out["serial"], model.norm(y + adapter(y)))
        torch.testing.assert_close(out["parallel"], model.norm(y + adapter(x)))
    assert not torch.allclose(out["serial"], out["parallel"])
    # the adapters (no longer zero) act only inside ``attached``: outside it the LLM is as it was
    torch.testing.assert_close(model(inputs_embeds=x).last_hidden_state, frozen)


def test_layout_switches_and_length_check():
    assert make(adapter_type="parallel").adapters.layout == ["parallel", "parallel"]
    assert make().adapters.layout == ["serial", "serial"]
    assert make(adapter_layout=["parallel", "serial"]).adapters.layout == ["parallel", "serial"]
    with pytest.raises(ConfigError, match="3 entries but the LLM has 2 layers"):
        make(adapter_layout=["serial"] * 3)


# ---------------------------------------------------------------------- losses and inputs
def test_hard_negative_loss_by_hand():
    items = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])  # row 0 = padding
    user = torch.tensor([[1.0, 0.2]])
    # cos(user, item): 1 -> 0.981 (but in the history), 3 -> 0.832 (hardest allowed), 2 = target -> 0.196
    loss = hard_negative_loss(user, items, torch.tensor([2]), torch.tensor([[0, 1]]), 1, 0.5)
    norm = math.hypot(1.0, 0.2)
    pos, neg = 0.2 / norm / 0.5, 1.2 / (norm * math.sqrt(2)) / 0.5
    assert loss.item() == pytest.approx(math.log(1 + math.exp(neg - pos)), rel=1e-5)


def prompt_width(model: DARec, history: torch.Tensor) -> int:
    """The number of positions the LLM reads for ``history`` (one row), seen at its forward."""
    seen = []
    handle = model.backbone.register_forward_pre_hook(
        lambda m, args, kwargs: seen.append(kwargs["inputs_embeds"].shape[1]), with_kwargs=True
    )
    model.encode_users(history)
    handle.remove()
    return seen[0]


def test_collaborative_tokens_one_per_prompt_item_plus_user():
    history = torch.tensor([[0, 2, 4]])
    with_cf, without = make(), make(inject_cf=False)
    assert prompt_width(with_cf, history) - prompt_width(without, history) == 3
    assert without.history_len == 5 and with_cf.history_len == 20


def test_frozen_backbone_unchanged_and_adapters_move_after_a_step():
    model = make().train()
    frozen = {n: p.clone() for n, p in model.backbone.named_parameters()}
    before = {n: p.clone() for n, p in model.named_parameters() if p.requires_grad}
    assert not any(n.startswith("backbone.") for n in before)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss, logs = model.calculate_loss(Batch(HISTORY, TARGET))
    assert set(logs) == {"ce", "hard"}
    loss.backward()
    opt.step()
    for n, p in model.backbone.named_parameters():
        assert torch.equal(p, frozen[n]), n
    params = dict(model.named_parameters())
    for name in (
        "adapters.adapters.0.up.weight",
        "adapters.adapters.1.up.weight",
        "read_token",
        "item_table.weight",
        "user_head.weight",
        "cf_tokens.1.weight",
    ):
        assert not torch.equal(params[name], before[name]), name
    scores = model.eval().full_sort_predict(Batch(HISTORY, TARGET))
    assert scores.shape == (3, DATA.n_items + 1) and torch.isinf(scores[:, 0]).all()


# ---------------------------------------------------------------------- runs
def test_layout_saved_with_the_run_and_rebuilt_from_the_saved_config(tmp_path, toy_dir, tiny_llama):
    overrides = dict(RUN, llm=tiny_llama, adapter_layout=["parallel", "serial"])
    train_run("darec", toy_dir, tmp_path / "run", overrides=overrides, progress=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model_config"]["adapter_layout"] == ["parallel", "serial"]
    net, data, _, _ = load_run(tmp_path / "run")
    rebuilt = build_model("darec", DARecConfig(**saved["model_config"]), data, seed=0)
    assert net.adapters.layout == rebuilt.adapters.layout == ["parallel", "serial"]
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=False)["model"]
    torch.testing.assert_close(net.trainable_state_dict(), best)


def test_cf_run_gives_frozen_sasrec_and_item_counts_must_match(tmp_path, toy_dir, tiny_llama):
    sas = dict(epochs=1, hidden_size=16, n_heads=1, inner_size=16, max_len=10, threads=1)
    train_run("sasrec", toy_dir, tmp_path / "sas", overrides=sas, progress=False)
    results = train_run(
        "darec",
        toy_dir,
        tmp_path / "run",
        overrides=dict(RUN, llm=tiny_llama, cf_run=str(tmp_path / "sas")),
        progress=False,
    )
    assert "ndcg@10" in results["valid"]
    net = load_run(tmp_path / "run")[0]
    assert net.cf is not None and not any(p.requires_grad for p in net.cf.parameters())
    other = make_data(n_items=25)
    with pytest.raises(ConfigError, match="trained on 30 items, but this dataset has 25"):
        build_model(
            "darec", DARecConfig(**dict(TINY, llm=tiny_llama), cf_run=str(tmp_path / "sas")), other, seed=0
        )


def test_search_returns_and_saves_a_layout(tmp_path, toy_dir, tiny_llama):
    overrides = {k: v for k, v in RUN.items() if k != "epochs"} | {"llm": tiny_llama}
    best = search_adapter_layout(toy_dir, tmp_path / "search", trials=2, overrides=overrides, sample_size=15)
    assert len(best) == 2 and set(best) <= {"serial", "parallel"}
    report = json.loads((tmp_path / "search" / "search.json").read_text())
    assert report["best_layout"] == best and len(report["trials"]) == 2
    trial = json.loads((tmp_path / "search" / "trial_000" / "config.json").read_text())
    assert trial["model_config"]["adapter_layout"] == report["trials"][0]["layout"]
    assert trial["train"]["epochs"] == 1
    assert json.loads((tmp_path / "search" / "sample_data" / "meta.json").read_text())["n_users"] == 15
