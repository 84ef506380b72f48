"""laserrec's additions to Laser (LaserPlus) and the authors' variants: centring, sampled negatives (their
first stage), M-Former's input C, distillation from the ID model and the repeat offset; the paper's recipes
build the paper's class. Tiny Llama / GPT-2 / BERT backbones."""

import pytest
import torch
import torch.nn.functional as F

from laser_fixtures import HISTORY, ITEMS, N_ITEMS, TARGET, make
from laserrec.errors import ConfigError
from laserrec.models.base import Batch
from laserrec.models.laser.plus import LaserPlus, LaserPlusConfig


def test_center_subtracts_the_catalog_mean_from_items_and_a_running_mean_from_users(backbone):
    model = make(backbone, center=True).eval()
    with torch.no_grad():
        raw = model.encode_items(torch.arange(1, N_ITEMS + 1))
    model.refresh_item_matrix()
    assert torch.allclose(model.item_mean, raw.mean(0), atol=1e-5)
    assert torch.allclose(model.item_matrix[1:], F.normalize(raw - raw.mean(0), dim=-1), atol=1e-5)
    model.train()  # no dropout here: a training step encodes the users as encode_users does
    first = model.encode_users(HISTORY).detach().mean(0)
    model.calculate_loss(Batch(HISTORY, TARGET))
    assert torch.allclose(model.user_mean, first)  # the first step sets the running mean
    second = model.encode_users(HISTORY[:2]).detach().mean(0)
    model.calculate_loss(Batch(HISTORY[:2], TARGET[:2]))
    assert torch.allclose(model.user_mean, 0.9 * first + 0.1 * second)
    model.eval()
    kept = model.user_mean.clone()
    scores = model.full_sort_predict(Batch(HISTORY, TARGET))
    assert torch.equal(model.user_mean, kept)  # evaluation never moves it
    users = F.normalize(model.encode_users(HISTORY) - kept, dim=-1)
    assert torch.allclose(scores[:, 1:], users @ model.item_matrix[1:].T, atol=1e-5)


def test_negatives_train_phase_one_against_targets_and_drawn_items_encoded_with_gradient(backbone):
    model = make(backbone, negatives=4, use_lb_loss=False).eval()
    model.set_phase(1)
    model.on_epoch_start(0)
    assert not model.item_matrix.any()  # no catalog encoding: phase 1 never reads the matrix here
    target = torch.tensor([2, 5, 2])
    torch.manual_seed(7)
    drawn = torch.randint(1, N_ITEMS + 1, (4,))  # what calculate_loss draws after the same seed
    ids = sorted(set(target.tolist()) | set(drawn.tolist()))

    def by_hand(detach_items: bool):
        users = F.normalize(model.encode_users(HISTORY), dim=-1)
        items = F.normalize(model.encode_items(torch.tensor(ids)), dim=-1)
        items = items.detach() if detach_items else items
        return F.cross_entropy(users @ items.T / 0.05, torch.tensor([ids.index(t) for t in target.tolist()]))

    torch.manual_seed(7)
    loss, logs = model.calculate_loss(Batch(HISTORY, target))
    (grad,) = torch.autograd.grad(loss, model.suffix)
    expected = by_hand(detach_items=False)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert logs["iic"] == pytest.approx(loss.item())
    assert torch.allclose(grad, torch.autograd.grad(expected, model.suffix)[0], atol=1e-6)
    users_only = torch.autograd.grad(by_hand(detach_items=True), model.suffix)[0]
    assert not torch.allclose(grad, users_only, atol=1e-6)  # the item prompts carry gradient
    model.set_phase(2)  # phase 2: the whole matrix, encoded once
    loss, _ = model.calculate_loss(Batch(HISTORY, target))
    users = F.normalize(model.encode_users(HISTORY), dim=-1)
    whole = F.cross_entropy(users @ model.item_matrix[1:].T / 0.05, target - 1)
    assert model.item_matrix[1:].any() and loss.item() == pytest.approx(whole.item(), rel=1e-5)


@pytest.mark.parametrize("cf_input", ["states", "items", "last"])
def test_cf_input_feeds_mformer_the_sequence_states_the_item_embeddings_or_the_last_state(backbone, cf_input):
    model = make(backbone, cf_input=cf_input, max_history=2).eval()
    cf = model.cf
    cf.sequence_states = lambda history: cf.emb(history) * 2 + 1  # unlike the item embeddings
    seen = []
    handle = model.mformer.register_forward_hook(lambda m, args, out: seen.append(args))
    model.encode_users(HISTORY)
    handle.remove()
    c, mask = seen[0]
    recent = HISTORY[:, -(1 if cf_input == "last" else 2) :]
    expected = cf.emb(recent) if cf_input == "items" else cf.emb(recent) * 2 + 1
    assert c.shape == (3, recent.shape[1], 8) and torch.allclose(c, expected)
    assert torch.equal(mask, recent > 0)


def kl(model, logits, columns, unseen=False):
    """KL(ID model || Laser) by hand: sum over items of p log(p / q), averaged over users; ``unseen``:
    the teacher's softmax over the items outside each user's history only."""
    with torch.no_grad():
        teacher = model.cf.emb(HISTORY[:, -1]) @ model.cf.emb(columns).T  # the ID model's dot products
    if unseen:
        teacher = teacher.masked_fill((columns[None, :, None] == HISTORY[:, None, :]).any(-1), float("-inf"))
    p, log_q = teacher.softmax(-1), logits.log_softmax(-1)
    return torch.where(p > 0, p * (p.log() - log_q), 0.0).sum(-1).mean()


def test_distill_adds_the_kl_from_the_id_models_softmax_over_the_same_candidates(backbone):
    model = make(backbone, negatives=4, distill=0.5, use_lb_loss=False).eval()
    model.set_phase(1)
    target = torch.tensor([2, 5, 2])
    torch.manual_seed(7)
    ids = torch.cat([target, torch.randint(1, N_ITEMS + 1, (4,))]).unique()  # the candidates, as drawn

    users = F.normalize(model.encode_users(HISTORY), dim=-1)
    logits = users @ F.normalize(model.encode_items(ids), dim=-1).T / 0.05
    ce = F.cross_entropy(logits, torch.tensor([(ids == t).nonzero().item() for t in target.tolist()]))
    torch.manual_seed(7)
    loss, logs = model.calculate_loss(Batch(HISTORY, target))
    assert logs["iic"] == pytest.approx(ce.item(), rel=1e-5)
    assert logs["distill"] == pytest.approx(kl(model, logits, ids).item(), rel=1e-5) and logs["distill"] > 0
    assert loss.item() == pytest.approx(ce.item() + 0.5 * logs["distill"], rel=1e-5)
    model.set_phase(2)  # the whole catalog: the ID model's softmax over every item
    loss, logs = model.calculate_loss(Batch(HISTORY, target))
    whole = users @ model.item_matrix[1:].T / 0.05
    assert logs["distill"] == pytest.approx(kl(model, whole, torch.arange(1, N_ITEMS + 1)).item(), rel=1e-5)


def test_distill_unseen_gives_the_history_items_no_teacher_mass(backbone):
    model = make(backbone, negatives=0, distill=1.0, distill_unseen=True, use_lb_loss=False).eval()
    model.set_phase(2)
    _, logs = model.calculate_loss(Batch(HISTORY, torch.tensor([2, 5, 2])))
    users = F.normalize(model.encode_users(HISTORY), dim=-1)
    whole, columns = users @ model.item_matrix[1:].T / 0.05, torch.arange(1, N_ITEMS + 1)
    assert logs["distill"] == pytest.approx(kl(model, whole, columns, unseen=True).item(), rel=1e-5)
    assert logs["distill"] != pytest.approx(kl(model, whole, columns).item(), rel=1e-3)
    with pytest.raises(ConfigError, match="distill_unseen"):
        LaserPlusConfig(llm="tiny", distill_unseen=True)


def test_history_negatives_join_phase_one_candidates(backbone):
    model = make(backbone, negatives=2, history_negatives=1, use_lb_loss=False).eval()
    model.set_phase(1)
    target = torch.tensor([2, 5, 2])
    torch.manual_seed(7)
    drawn = torch.randint(1, N_ITEMS + 1, (2,))
    ids = torch.cat([target, drawn, HISTORY[:, -1]]).unique()  # the newest history items: 2, 6, 3
    assert len(ids) > len(torch.cat([target, drawn]).unique())  # they add candidates here
    users = F.normalize(model.encode_users(HISTORY), dim=-1)
    logits = users @ F.normalize(model.encode_items(ids), dim=-1).T / 0.05
    ce = F.cross_entropy(logits, torch.tensor([(ids == t).nonzero().item() for t in target.tolist()]))
    torch.manual_seed(7)
    _, logs = model.calculate_loss(Batch(HISTORY, target))
    assert logs["iic"] == pytest.approx(ce.item(), rel=1e-5)
    with pytest.raises(ConfigError, match="history_negatives"):
        LaserPlusConfig(llm="tiny", history_negatives=1)


def test_repeat_bias_takes_a_learned_offset_off_the_history_items_in_scores_and_in_the_loss(backbone):
    model = make(backbone, negatives=2, history_negatives=1, repeat_bias=True, use_lb_loss=False).eval()
    assert model.repeat_bias.item() == 0 and "repeat_bias" in model.trainable_state_dict()
    assert make(backbone, repeat_bias=True, repeat_init=0.25).repeat_bias.item() == 0.25
    with torch.no_grad():
        model.repeat_bias.fill_(0.3)
    seen = torch.zeros(3, N_ITEMS + 1, dtype=torch.bool)
    for row, items in enumerate(HISTORY.tolist()):
        seen[row, [i for i in items if i]] = True  # rows: {2}, {3, 4, 5, 6}, {1, 2, 3}
    target = torch.tensor([5, 1, 6])  # none of them in its user's history
    scores = model.full_sort_predict(Batch(HISTORY, target))
    users = F.normalize(model.encode_users(HISTORY), dim=-1)
    assert torch.allclose(scores[:, 1:], users @ model.item_matrix[1:].T - 0.3 * seen[:, 1:], atol=1e-5)

    model.set_phase(1)
    torch.manual_seed(7)
    ids = torch.cat([target, torch.randint(1, N_ITEMS + 1, (2,)), HISTORY[:, -1]]).unique()
    logits = (users @ F.normalize(model.encode_items(ids), dim=-1).T - 0.3 * seen[:, ids]) / 0.05
    ce = F.cross_entropy(logits, torch.tensor([(ids == t).nonzero().item() for t in target.tolist()]))
    torch.manual_seed(7)
    loss, logs = model.calculate_loss(Batch(HISTORY, target))
    assert logs["iic"] == pytest.approx(ce.item(), rel=1e-5)
    loss.backward()
    assert model.repeat_bias.grad < 0  # no target repeats: a descent step raises the offset


def test_distill_needs_the_id_model_even_without_mformer(backbone):
    config = LaserPlusConfig(llm="tiny", dtype="fp32", prefix_source="learned", distill=1.0)
    assert config.needs_cf and not LaserPlusConfig(llm="tiny", prefix_source="learned").needs_cf
    with pytest.raises(ConfigError, match="distill"):
        LaserPlus(config, N_ITEMS, ITEMS, backbone, None)
