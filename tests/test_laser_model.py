"""Laser end to end on tiny offline backbones (2-layer Llama, GPT-2, BERT) and a fake ID model."""

import contextlib
import math

import pytest
import torch
import torch.nn.functional as F

from conftest import FakeCF
from laser_fixtures import HISTORY, ITEMS, N_ITEMS, TARGET, make
from laserrec.errors import ConfigError
from laserrec.models.base import Batch
from laserrec.models.laser.config import LaserConfig
from laserrec.models.laser.inputs import PROMPT, READ, SUFFIX, layout
from laserrec.models.laser.model import Laser


@contextlib.contextmanager
def hooked(module: torch.nn.Module, hook):
    """``hook`` on ``module``'s forward, for the block only (the tiny backbones are shared by the tests)."""
    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def capture_backbone_call(model: Laser, history: torch.Tensor) -> dict:
    """The kwargs and output of the backbone call made by encode_users."""
    seen = {}

    def hook(module, args, kwargs, output):
        seen.update(kwargs, hidden=output.last_hidden_state)

    handle = model.backbone.register_forward_hook(hook, with_kwargs=True)
    seen["embedding"] = model.encode_users(history)
    handle.remove()
    return seen


@pytest.mark.parametrize("side", ["left", "right"])
def test_prefix_suffix_placement_mask_and_read_position(backbone, side):
    model = make(backbone, padding_side=side, prefix_source="learned", n_suffix=2).eval()
    seen = capture_backbone_call(model, HISTORY)
    embeds, mask, pos = seen["inputs_embeds"], seen["attention_mask"], seen["position_ids"]
    lengths = [len(model.prompts.build(row)) + 3 + 2 for row in HISTORY.tolist()]
    width = embeds.shape[1]
    assert width == max(lengths)
    for b, n in enumerate(lengths):
        start = width - n if side == "left" else 0
        assert mask[b].tolist() == [int(start <= t < start + n) for t in range(width)]
        assert pos[b, start : start + n].tolist() == list(range(n))
        assert torch.equal(embeds[b, start : start + 3], model.prefix_embeddings)
        assert torch.equal(embeds[b, start + n - 2 : start + n], model.suffix)
        read = seen["hidden"][b, start + n - 2 : start + n].mean(0)  # the two suffix outputs, averaged
        assert torch.allclose(seen["embedding"][b], read)


def test_left_and_right_padding_give_the_same_embeddings(backbone):
    model = make(backbone).eval()
    with torch.no_grad():
        left = model.encode_users(HISTORY)
        model.config.padding_side = "right"
        right = model.encode_users(HISTORY)
        alone = torch.cat([model.encode_users(HISTORY[b : b + 1]) for b in range(3)])
    assert torch.allclose(left, right, atol=1e-5)
    assert torch.allclose(left, alone, atol=1e-5)


def test_iic_and_lb_loss_values_by_hand(backbone):
    model = make(backbone, temperature=0.5, lb_weight=0.1)
    h = torch.zeros(2, backbone.hidden_size)
    h[0, 0], h[1, 1] = 3.0, 1.0  # normalised: e0 and e1
    state = model.trainable_state_dict()  # an encoded item matrix, as a checkpoint brings it
    state["item_matrix"] = torch.zeros_like(state["item_matrix"])
    for i, (x, y) in enumerate([(1, 0), (0, 1), (-1, 0), (0, -1), (1, 0), (0, 1)], start=1):
        state["item_matrix"][i, :2] = torch.tensor([x, y], dtype=torch.float)
    model.load_trainable_state_dict(state)

    def states_h(module, args, out):  # the LLM reads h at every position, so at the suffix
        return type(out)(last_hidden_state=h[:, None].expand_as(out.last_hidden_state))

    def lb_04(module, args, out):  # M-Former's output: (prefix, load-balancing loss, ...)
        return (out[0], torch.tensor(0.4), *out[2:])

    with hooked(model.backbone, states_h), hooked(model.mformer, lb_04):
        loss, logs = model.calculate_loss(Batch(torch.ones(2, 1, dtype=torch.long), torch.tensor([1, 3])))
    # user 0 = e0: logits / 0.5 = [2, 0, -2, 0, 2, 0], target item 1; user 1 = e1: [0, 2, 0, -2, 0, 2], item 3
    z = math.exp(2) * 2 + math.exp(-2) + 3
    expected = ((math.log(z) - 2) + (math.log(z) - 0)) / 2
    assert logs["iic"] == pytest.approx(expected, rel=1e-5)
    assert loss.item() == pytest.approx(expected + 0.1 * 0.4, rel=1e-5)


def test_frozen_weights_unchanged_and_trainable_weights_changed_after_a_step(backbone):
    model = make(backbone).train()
    frozen = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    cf_before = model.cf.emb.weight.clone()
    trainable = {n: p.clone() for n, p in model.named_parameters() if p.requires_grad}
    assert any(n.startswith("mformer.") for n in trainable) and "suffix" in trainable
    assert not any(n.startswith("backbone.") for n in trainable)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.set_phase(1)
    model.on_epoch_start(0)
    loss, _ = model.calculate_loss(Batch(HISTORY, TARGET))
    loss.backward()
    opt.step()
    assert not model.backbone.training  # parent .train() does not switch dropout on
    assert all(torch.equal(frozen[k], v) for k, v in model.backbone.state_dict().items())
    assert torch.equal(cf_before, model.cf.emb.weight)
    for name in ("suffix", "mformer.queries", "mformer.router.weight", "mformer.to_llm.weight"):
        assert not torch.equal(trainable[name], dict(model.named_parameters())[name]), name


def _step(model: Laser) -> None:
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    loss, _ = model.calculate_loss(Batch(HISTORY, TARGET))
    loss.backward()
    opt.step()


def test_phase_one_reencodes_items_each_epoch_and_phase_two_keeps_them(backbone):
    model = make(backbone)
    calls = []
    original = model.refresh_item_matrix
    model.refresh_item_matrix = lambda batch_size=None: (calls.append(1), original(batch_size))
    model.set_phase(1)
    model.on_epoch_start(0)
    first = model.item_matrix.clone()
    _step(model)
    model.on_epoch_start(1)
    assert len(calls) == 2 and not torch.allclose(first, model.item_matrix)
    model.set_phase(2)
    fixed = model.item_matrix.clone()
    _step(model)
    model.on_epoch_start(2)
    model.prepare_for_eval()
    assert len(calls) == 2 and torch.equal(fixed, model.item_matrix)


def test_prepare_for_eval_reencodes_only_when_weights_changed(backbone):
    model = make(backbone)
    model.set_phase(1)
    model.on_epoch_start(0)
    before = model.item_matrix.clone()
    model.prepare_for_eval()
    assert torch.equal(before, model.item_matrix)
    _step(model)
    model.prepare_for_eval()
    assert not torch.allclose(before, model.item_matrix)


def test_warmup_loss_is_the_cosine_gap_to_mean_pooling_and_shrinks(backbone):
    model = make(backbone, use_lb_loss=False, warmup_epochs=1)
    model.set_phase(0)
    states = []  # the LLM's last hidden states of the step's two forwards: user prompts, then item prompts
    with hooked(model.backbone, lambda m, args, out: states.append(out.last_hidden_state.detach())):
        loss, logs = model.calculate_loss(Batch(HISTORY, TARGET))
    users = [model.prompts.build(row) for row in HISTORY.tolist()]
    items = [model.prompts.build([i]) for i in TARGET.tolist()]
    gaps = []
    for hidden, prompts in zip(states, (users, items), strict=True):  # by hand: suffix slot vs. prompt slots
        _, kinds = layout(prompts, model.n_prefix, model.suffix.shape[0], model.config.padding_side)
        for row in range(len(prompts)):
            h, k = hidden[row].float(), kinds[row]
            mean = h[(k == PROMPT) | (k == READ)].mean(0)
            gaps.append(1 - F.cosine_similarity(h[k == SUFFIX].mean(0), mean, dim=0))
    assert loss.item() == pytest.approx(torch.stack(gaps).mean().item(), abs=1e-5)
    assert logs["cos_gap"] == pytest.approx(loss.item())
    # the suffix alone closes the gap (no prefix, so a decoder's mean-pooling target stays put)
    model = make(backbone, use_prefix=False, warmup_epochs=1)
    model.set_phase(0)
    start = model.calculate_loss(Batch(HISTORY, TARGET))[0].item()
    opt = torch.optim.Adam([model.suffix], lr=1e-2)
    for _ in range(30):
        loss, _ = model.calculate_loss(Batch(HISTORY, TARGET))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert model.calculate_loss(Batch(HISTORY, TARGET))[0].item() < 0.3 * start


@pytest.mark.parametrize("source", ["mformer", "learned"])
def test_warmup_trains_the_suffix_only_and_phase_one_trains_the_prefix_again(backbone, source):
    model = make(backbone, prefix_source=source, warmup_epochs=1)
    prefix = [p for n, p in model.named_parameters() if p.requires_grad and n != "suffix"]
    assert prefix, "the prefix has trainable weights"
    for phase, prefix_moves in ((0, False), (1, True)):
        model.set_phase(phase)
        model.zero_grad(set_to_none=True)
        before = [p.detach().clone() for p in prefix]
        suffix = model.suffix.detach().clone()
        _step(model)
        assert not torch.equal(suffix, model.suffix)
        moved = [not torch.equal(b, p) for b, p in zip(before, prefix, strict=True)]
        assert any(moved) == prefix_moves and all(p.grad is None for p in prefix) != prefix_moves


def test_warmup_is_phase_zero_with_its_own_lr_and_can_be_switched_off(backbone):
    schedule = {"warmup_epochs": 2, "phase1_epochs": 3, "phase2_epochs": 1}
    on = make(backbone, warmup_lr=0.02, **schedule)
    assert on.phase_schedule(0) == [(0, 2), (1, 3), (2, 1)]
    assert [g["lr"] for g in on.param_groups(0, 1e-3)] == [0.02]
    assert [g["lr"] for g in on.param_groups(1, 1e-3)] == [1e-3]
    assert make(backbone, warmup_epochs=0).phase_schedule(0)[0][0] == 1
    assert make(backbone, pooling="mean", warmup_epochs=2).phase_schedule(0)[0][0] == 1  # no suffix to warm
    with pytest.raises(ConfigError, match="phase must be one of"):
        make(backbone).set_phase(0)  # the paper's Laser has no phase 0


ABLATIONS = [
    {"use_prefix": False},
    {"pooling": "mean"},
    {"pooling": "eos"},
    {"prefix_source": "learned"},
    {"single_expert": True},
    {"use_lb_loss": False},
    {"n_suffix": 3},
    {"warmup_epochs": 0},
    {"phase1": False},
    {"phase2": False},
    {"padding_side": "right"},
    {"negatives": 3},
    {"cf_input": "items"},
    {"cf_input": "last"},
]


@pytest.mark.parametrize("switch", ABLATIONS, ids=lambda d: "-".join(f"{k}={v}" for k, v in d.items()))
def test_every_ablation_trains_one_step(backbone, switch):
    model = make(backbone, **switch)
    model.set_phase(1 if model.config.phase1 else 2)
    model.on_epoch_start(0)
    loss, logs = model.calculate_loss(Batch(HISTORY, TARGET))
    loss.backward()
    assert math.isfinite(loss.item())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters() if p.requires_grad)
    if switch.get("use_lb_loss") is False or switch.get("use_prefix") is False:
        assert loss.item() == pytest.approx(logs["iic"])


@pytest.mark.parametrize("variant", [{}, {"center": True}, {"repeat_bias": True, "repeat_init": 0.2}])
def test_save_and_load_trainable_state_gives_identical_scores(backbone, tmp_path, variant):
    model = make(backbone, seed=0, **variant)
    model.set_phase(1)
    model.on_epoch_start(0)
    _step(model)
    model.eval().prepare_for_eval()
    scores = model.full_sort_predict(Batch(HISTORY, TARGET))
    state = model.trainable_state_dict()
    assert "item_matrix" in state and not any(k.startswith("backbone") for k in state)
    torch.save(state, tmp_path / "laser.pt")
    fresh = make(backbone, seed=5, **variant).eval()
    fresh.load_trainable_state_dict(torch.load(tmp_path / "laser.pt"))
    fresh.prepare_for_eval()  # the loaded matrix is current: not re-encoded
    again = fresh.full_sort_predict(Batch(HISTORY, TARGET))
    assert torch.equal(scores, again)
    assert scores.shape == (3, N_ITEMS + 1) and torch.isinf(scores[:, 0]).all()


def test_missing_cf_and_wrong_item_text_count_are_config_errors(backbone):
    cfg = LaserConfig(dtype="fp32", d_model=16, n_heads=2)
    with pytest.raises(ConfigError, match="needs a trained ID model"):
        Laser(cfg, N_ITEMS, ITEMS, backbone, None)
    Laser(LaserConfig(dtype="fp32", prefix_source="learned"), N_ITEMS, ITEMS, backbone, None)
    with pytest.raises(ConfigError, match="3 item texts for 6 items"):
        Laser(cfg, N_ITEMS, ITEMS[:3], backbone, FakeCF(N_ITEMS))


def test_prompt_budget_error_surfaces_at_construction(backbone):
    with pytest.raises(ConfigError, match="max_prompt_tokens=16"):
        make(backbone, max_prompt_tokens=16)


def test_describe_parameters_reports_trainable_share(backbone):
    text = make(backbone).describe_parameters()
    assert text.startswith("trainable ") and "/ total " in text and text.endswith("%)")
