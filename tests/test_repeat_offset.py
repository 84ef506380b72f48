"""The repeat offset on the ID models (``repeat_bias``): the same learned b as Laser's, checked by hand."""

import pytest
import torch
import torch.nn.functional as F

from laserrec.data.dataset import leave_one_out
from laserrec.evaluation.evaluator import evaluate
from laserrec.models.base import Batch
from laserrec.models.bert4rec.config import BERT4RecConfig
from laserrec.models.bert4rec.model import BERT4Rec
from laserrec.models.repeat import first_seen, in_history
from laserrec.models.sasrec.config import SASRecConfig
from laserrec.models.sasrec.model import SASRec
from laserrec.training.loading import load_run
from laserrec.training.runs import train_run

SMALL = {"hidden_size": 16, "n_heads": 2, "inner_size": 32, "max_len": 8, "repeat_bias": True}
N_ITEMS = 6


def test_first_seen_and_in_history_by_hand():
    seq = torch.tensor([[0, 3, 1, 3], [5, 0, 0, 6]])  # (the second row's zeros stand for padding anywhere)
    assert first_seen(seq, N_ITEMS).tolist() == [[2, 4, 1, 4, 4, 4], [4, 4, 4, 4, 0, 3]]
    assert in_history(seq, None, N_ITEMS).tolist() == [
        [True, False, True, False, False, False],
        [False, False, False, False, True, True],
    ]
    assert in_history(seq, torch.tensor([3, 5]), N_ITEMS).tolist() == [[True, False], [False, True]]


def test_sasrec_takes_the_offset_off_the_items_seen_up_to_each_position():
    model = SASRec(SASRecConfig(**SMALL), N_ITEMS).eval()
    assert model.repeat_bias.item() == 0
    with torch.no_grad():
        model.repeat_bias.fill_(0.5)
    history = torch.tensor([[0, 2, 1, 2], [4, 5, 6, 3]])
    target = torch.tensor([[0, 1, 2, 3], [5, 6, 3, 4]])  # row 0: position 2 predicts 2, already seen
    h = model.sequence_states(history)
    seen = torch.zeros(2, 4, N_ITEMS, dtype=torch.bool)  # items at positions <= t, written out
    for t, items in enumerate([[2], [2, 1], [2, 1]], start=1):
        seen[0, t, [i - 1 for i in items]] = True
    for t in range(4):
        seen[1, t, [i - 1 for i in history[1, : t + 1].tolist()]] = True
    keep = target != 0
    logits = (h @ model.item_emb.weight[1:].T - 0.5 * seen)[keep]
    loss, logs = model.calculate_loss(Batch(history, target))
    assert loss.item() == pytest.approx(F.cross_entropy(logits, target[keep] - 1).item(), rel=1e-6)
    assert logs["repeat_bias"] == pytest.approx(0.5)

    scores = model.full_sort_predict(Batch(history, target[:, -1]))
    plain = h[:, -1] @ model.item_emb.weight[1:].T
    assert torch.allclose(scores[:, 1:], plain - 0.5 * seen[:, -1], atol=1e-6)


def test_bert4rec_takes_the_offset_off_the_items_before_each_masked_position(monkeypatch):
    model = BERT4Rec(BERT4RecConfig(**SMALL), N_ITEMS).eval()
    with torch.no_grad():
        model.repeat_bias.fill_(0.5)
    seq = torch.tensor([[0, 2, 1, 2], [4, 5, 6, 3]])
    m = model.mask_id
    ids, labels = torch.tensor([[0, 2, m, m], [m, 5, 6, 3]]), torch.tensor([[0, 0, 1, 2], [4, 0, 0, 0]])
    monkeypatch.setattr(model, "cloze", lambda s: (ids, labels) if torch.equal(s, seq) else None)
    seen = torch.zeros(3, N_ITEMS, dtype=torch.bool)  # the masked positions in order: (0, 2), (0, 3), (1, 0)
    seen[0, 1] = seen[1, 0] = seen[1, 1] = True  # before (0, 2): {2}; before (0, 3): {2, 1}; none at (1, 0)
    rows, bias = model.item_vectors()  # each item's output row and bias (row 0: padding)
    logits = model.head(model.encode(ids)[labels != 0]) @ rows[1:].T + bias[1:] - 0.5 * seen
    loss, _ = model.calculate_loss(Batch(seq, seq))
    assert loss.item() == pytest.approx(F.cross_entropy(logits, torch.tensor([0, 1, 3])).item(), rel=1e-6)

    history = torch.tensor([[0, 2, 1, 2]])
    scores = model.full_sort_predict(Batch(history, torch.tensor([3])))
    plain = model.user_vectors(history) @ rows[1:].T + bias[1:]  # the mask token after the history
    assert torch.allclose(scores[:, 1:], plain - 0.5 * in_history(history, None, N_ITEMS), atol=1e-6)


@pytest.mark.parametrize("model", ["sasrec", "bert4rec"])
def test_the_offset_trains_saves_and_reloads(model, toy_dir, tmp_path):
    over = {**{k: str(v) for k, v in SMALL.items()}, "epochs": "3", "batch_size": "8", "lr": "0.01"}
    res = train_run(model, toy_dir, tmp_path / "run", overrides=over, progress=False)
    net, data, _, _ = load_run(tmp_path / "run")
    assert net.repeat_bias.item() != 0  # it learned (from 0)
    again, _ = evaluate(net, leave_one_out(data).test, net.history_len, progress=False)
    assert again["ndcg@10"] == pytest.approx(res["test"]["ndcg@10"], abs=1e-9)


def test_repeat_init_starts_the_offset_there_and_needs_the_offset():
    from laserrec.errors import ConfigError
    from laserrec.models.laser.plus import LaserPlusConfig

    assert SASRec(SASRecConfig(**SMALL, repeat_init=2.5), N_ITEMS).repeat_bias.item() == 2.5
    assert BERT4Rec(BERT4RecConfig(**SMALL, repeat_init=-1), N_ITEMS).repeat_bias.item() == -1.0
    plain = {k: v for k, v in SMALL.items() if k != "repeat_bias"}
    for config in (
        lambda: SASRecConfig(**plain, repeat_init=1.0),
        lambda: BERT4RecConfig(**plain, repeat_init=1.0),
        lambda: LaserPlusConfig(llm="tiny", repeat_init=0.2),
    ):
        with pytest.raises(ConfigError, match="repeat_init needs repeat_bias"):
            config()
