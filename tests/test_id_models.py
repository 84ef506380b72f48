import json
import os
import signal

import pytest
import torch

from laserrec.data.dataset import leave_one_out
from laserrec.errors import CheckpointError, ConfigError, DataError
from laserrec.evaluation.evaluator import evaluate
from laserrec.models.base import Batch
from laserrec.models.bert4rec.config import BERT4RecConfig
from laserrec.models.bert4rec.model import BERT4Rec
from laserrec.models.sasrec.config import SASRecConfig
from laserrec.models.sasrec.model import SASRec
from laserrec.training.loading import evaluate_run, load_run
from laserrec.training.runs import train_run
from laserrec.training.samples import SampleSet, heldout_sequences, prefix_pairs, sequence_windows

SMALL = {"hidden_size": 16, "n_heads": 2, "inner_size": 32, "max_len": 8}


def test_sequence_windows_cover_every_target_once():
    import numpy as np

    seq = np.arange(1, 12)  # 11 items -> 10 targets
    windows = sequence_windows([seq], max_len=4)
    targets = sorted(int(t) for w in windows for t in w[1:])
    assert targets == list(range(2, 12))
    assert all(len(w) <= 5 for w in windows)
    assert prefix_pairs([np.array([5, 6, 7])], 2) == [(pytest.approx([5]), 6), (pytest.approx([5, 6]), 7)]


def test_heldout_samples_are_the_validation_steps_of_users_outside_the_validation_sample(toy_data):
    split = leave_one_out(toy_data)
    validated = split.valid.sample(10, seed=0)
    s = SampleSet(heldout_sequences(split.valid, validated), "prefix", 5, seed=0, last_only=True)
    outside = [k for k, u in enumerate(split.valid.users) if u not in set(validated.users.tolist())]
    assert len(s) == len(split.valid) - 10 == len(outside)
    for (history, target), k in zip(s.samples, outside, strict=True):
        assert target == split.valid.targets[k]  # a step no ID model was trained to predict
        assert history.tolist() == split.valid.histories[k][-5:].tolist()


def test_train_on_heldout_is_refused_for_sequence_models_and_when_nothing_is_left(toy_dir, tmp_path):
    over = {**{k: str(v) for k, v in SMALL.items()}, "epochs": "1", "train_on": "heldout"}
    with pytest.raises(ConfigError, match="train_on=heldout is for the LLM models"):
        train_run("sasrec", toy_dir, tmp_path / "r", overrides={**over, "valid_users": "10"}, progress=False)
    with pytest.raises(ConfigError, match="train_on 'everything'"):
        train_run("sasrec", toy_dir, tmp_path / "r2", overrides={"train_on": "everything"}, progress=False)


def test_batches_are_reproducible_and_dynamically_padded(toy_data):
    split = leave_one_out(toy_data)
    s = SampleSet(split.train, "sequence", 8, seed=3)
    a = [b.history.tolist() for _, b in s.batches(2, 16)]
    b = [b.history.tolist() for _, b in s.batches(2, 16)]
    assert a == b
    resumed = [b.history.tolist() for _, b in s.batches(2, 16, start=2)]
    assert resumed == a[2:]
    assert sum(len(x) for x in a) == len(s)
    assert max(len(x[0]) for x in a) <= 8


@pytest.mark.parametrize("cls,cfg", [(SASRec, SASRecConfig(**SMALL)), (BERT4Rec, BERT4RecConfig(**SMALL))])
def test_output_shapes(cls, cfg):
    model = cls(cfg, n_items=30).eval()
    hist = torch.tensor([[0, 0, 3, 4], [1, 2, 3, 4]])
    scores = model.full_sort_predict(Batch(hist, torch.tensor([5, 5])))
    assert scores.shape == (2, 31)
    assert torch.isinf(scores[:, 0]).all() and torch.isfinite(scores[:, 1:]).all()
    assert model.sequence_states(hist).shape == (2, 4, 16)
    assert model.item_states(torch.tensor([1, 2, 3])).shape == (3, 1, 16)


def test_sasrec_is_causal_and_ignores_left_padding():
    model = SASRec(SASRecConfig(**SMALL), 30).eval()
    a = model.sequence_states(torch.tensor([[3, 4, 5]]))
    b = model.sequence_states(torch.tensor([[3, 4, 9]]))
    assert torch.allclose(a[:, :2], b[:, :2], atol=1e-6)  # a later item never changes earlier states
    padded = model.sequence_states(torch.tensor([[0, 0, 3, 4, 5]]))
    assert torch.allclose(padded[:, -1], a[:, -1], atol=1e-5)


def test_bert4rec_cloze_masks_only_real_positions():
    model = BERT4Rec(BERT4RecConfig(**SMALL, mask_ratio=0.5), 30)
    seq = torch.tensor([[0, 0, 1, 2, 3, 4]] * 50)
    ids, labels = model.cloze(seq)
    assert (ids[:, :2] == 0).all() and (labels[:, :2] == 0).all()
    assert ((ids == model.mask_id) == (labels != 0)).all()
    assert (labels != 0).any(dim=1).all()  # every sequence has at least one masked item
    assert torch.equal(labels[labels != 0], seq[labels != 0])


def _train_loss(net, split):
    """Mean loss over the training samples under a fixed seed (so cloze masks are the same)."""
    torch.manual_seed(123)
    net.eval()
    samples = SampleSet(split.train, net.train_mode, net.history_len, seed=0)
    with torch.no_grad():
        losses = [net.calculate_loss(b)[0].item() for _, b in samples.batches(0, 64)]
    return sum(losses) / len(losses)


@pytest.mark.parametrize("model,factor", [("sasrec", 0.9), ("bert4rec", 0.97)])  # cloze learns slower
def test_training_lowers_loss_and_reload_gives_same_scores(model, factor, toy_dir, tmp_path):
    over = {
        **{k: str(v) for k, v in SMALL.items()},
        "epochs": "8",
        "batch_size": "8",
        "lr": "0.01",
        "dropout": "0.1",
        "attn_dropout": "0.1",
        "patience": "20",
    }
    res = train_run(model, toy_dir, tmp_path / "run", overrides=over, progress=False)
    assert res["test"]["users"] == 40
    net, data, cfg, _ = load_run(tmp_path / "run")
    split = leave_one_out(data)
    untrained, _, _, _ = load_run(tmp_path / "run", checkpoint=None)
    assert _train_loss(net, split) < factor * _train_loss(untrained, split)
    again, _ = evaluate(net, split.test, net.history_len, progress=False)
    assert again["ndcg@10"] == pytest.approx(res["test"]["ndcg@10"], abs=1e-9)
    assert evaluate_run(tmp_path / "run", "test", progress=False)["mrr"] == pytest.approx(res["test"]["mrr"])


def test_resume_after_interruption_gives_uninterrupted_result(toy_dir, tmp_path, monkeypatch):
    from laserrec.training import trainer as trainer_mod

    over = {
        **{k: str(v) for k, v in SMALL.items()},
        "epochs": "4",
        "batch_size": "8",
        "save_every_steps": "3",
    }
    full = train_run("sasrec", toy_dir, tmp_path / "full", overrides=over, progress=False)

    calls = {"n": 0}
    original = SASRec.calculate_loss

    def ctrl_c_midway(self, batch):
        calls["n"] += 1
        if calls["n"] == 11:  # mid-epoch, between two periodic checkpoints: the user presses Ctrl-C
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, batch)

    monkeypatch.setattr(SASRec, "calculate_loss", ctrl_c_midway)
    with pytest.raises(trainer_mod.Interrupted, match="interrupted at epoch"):
        train_run("sasrec", toy_dir, tmp_path / "cut", overrides=over, progress=False)
    monkeypatch.setattr(SASRec, "calculate_loss", original)
    resumed = train_run("sasrec", None, tmp_path / "cut", resume=True, progress=False)
    assert resumed["test"] == {**full["test"], "seconds": resumed["test"]["seconds"]}
    a = torch.load(tmp_path / "full" / "best.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "cut" / "best.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_run_errors(toy_dir, tmp_path):
    with pytest.raises(ConfigError, match="unknown key"):
        train_run("sasrec", toy_dir, tmp_path / "r", overrides={"hiden_size": "8"}, progress=False)
    with pytest.raises(ConfigError, match="unknown model"):
        train_run("nope", toy_dir, tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="expected int"):
        train_run("sasrec", toy_dir, tmp_path / "r", overrides={"epochs": "many"}, progress=False)
    with pytest.raises(ConfigError, match="not a run folder"):
        load_run(tmp_path / "missing")


def test_checkpoint_item_count_mismatch(toy_dir, tmp_path):
    from conftest import make_data

    over = {**{k: str(v) for k, v in SMALL.items()}, "epochs": "1", "batch_size": "8"}
    train_run("sasrec", toy_dir, tmp_path / "run", overrides=over, progress=False)
    other = make_data(n_items=25).save(tmp_path / "other")
    with pytest.raises(DataError, match="content hash"):  # another dataset is refused by its hash first
        load_run(tmp_path / "run", data_dir=other)
    with pytest.raises((CheckpointError, RuntimeError)) as e:
        load_run(tmp_path / "run", data_dir=other, accept_changed=True)
    assert "30" in str(e.value) or "size mismatch" in str(e.value)


def test_time_budget_cuts_the_epoch_validates_and_tests_the_best(toy_dir, tmp_path, monkeypatch):
    from laserrec.training import trainer as trainer_mod

    # a clock of 10 s per optimizer step: a 0.5-minute budget is spent after the third step
    monkeypatch.setattr(trainer_mod.Trainer, "_elapsed", lambda self: 10.0 * self.state.global_step)
    over = {**{k: str(v) for k, v in SMALL.items()}, "epochs": "5", "batch_size": "4"}
    res = train_run(
        "sasrec", toy_dir, tmp_path / "r", overrides={**over, "max_train_minutes": "0.5"}, progress=False
    )
    assert res["stopped_by"] == "time budget" and res["epochs_run"] == 1 and res["best_epoch"] == 0
    log = [json.loads(line) for line in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and "ndcg@10" in log[0]  # the cut epoch was validated
    state = torch.load(tmp_path / "r" / "last.pt", weights_only=False)["state"]
    assert state["global_step"] == 3 and state["stopped_by"] == "time budget"
    again = train_run("sasrec", None, tmp_path / "r", resume=True, progress=False)  # still over: no step
    assert torch.load(tmp_path / "r" / "last.pt", weights_only=False)["state"]["global_step"] == 3
    assert again["test"]["ndcg@10"] == pytest.approx(res["test"]["ndcg@10"])
    full = train_run("sasrec", toy_dir, tmp_path / "f", overrides=over, progress=False)
    assert full["stopped_by"] == "schedule or early stopping" and full["epochs_run"] == 5


def test_min_epochs_holds_early_stopping_off_until_the_phase_has_trained_that_long(
    toy_dir, tmp_path, monkeypatch
):
    from laserrec.training import trainer as trainer_mod

    falling = iter([0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.01])  # the first epoch is the best, then worse each time
    monkeypatch.setattr(trainer_mod, "evaluate", lambda *a, **k: ({"ndcg@10": next(falling)}, None))
    over = {**{k: str(v) for k, v in SMALL.items()}, "epochs": "7", "batch_size": "8", "patience": "2"}
    stopped = train_run("sasrec", toy_dir, tmp_path / "a", overrides=over, progress=False)
    assert stopped["epochs_run"] == 3 and stopped["best_epoch"] == 0  # best + patience
    falling = iter([0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.01])
    held = train_run("sasrec", toy_dir, tmp_path / "b", overrides={**over, "min_epochs": "5"}, progress=False)
    assert (
        held["epochs_run"] == 5 and held["best_epoch"] == 0
    )  # patience ran out at 3, min_epochs kept it to 5
    with pytest.raises(ConfigError, match="min_epochs"):
        train_run("sasrec", toy_dir, tmp_path / "c", overrides={**over, "min_epochs": "-1"}, progress=False)


def test_load_run_with_model_overrides_keeps_the_checkpoint_and_applies_the_setting(toy_dir, tmp_path):
    over = {**{k: str(v) for k, v in SMALL.items()}, "epochs": "1", "dropout": "0.1"}
    train_run("sasrec", toy_dir, tmp_path / "run", overrides=over, progress=False)
    net, data, _, _ = load_run(tmp_path / "run")
    other, _, _, _ = load_run(tmp_path / "run", model_overrides={"dropout": 0.0})
    assert (net.config.dropout, other.config.dropout) == (0.1, 0.0)
    test = leave_one_out(data).test
    a, _ = evaluate(net, test, net.history_len, progress=False)
    b, _ = evaluate(other, test, other.history_len, progress=False)  # dropout is off at scoring
    assert a["ndcg@10"] == pytest.approx(b["ndcg@10"], abs=1e-9)


@pytest.mark.parametrize("deterministic", [True, False])
def test_training_uses_torchs_deterministic_algorithms_unless_told_not_to(
    toy_dir, tmp_path, monkeypatch, deterministic
):
    # Multi-threaded CPU kernels that accumulate in thread order made two same-seed Laser runs drift apart
    # after one step; the trainer asks torch for its deterministic algorithms while it trains.
    seen = []
    loss = SASRec.calculate_loss
    monkeypatch.setattr(
        SASRec,
        "calculate_loss",
        lambda self, b: seen.append(torch.are_deterministic_algorithms_enabled()) or loss(self, b),
    )
    over = {**SMALL, "epochs": "1", "batch_size": "8", "deterministic": str(deterministic)}
    train_run("sasrec", toy_dir, tmp_path / "run", overrides=over, progress=False)
    assert seen and set(seen) == {deterministic}
    assert not torch.are_deterministic_algorithms_enabled()  # the caller's setting is back


@pytest.mark.parametrize("repeat_bias", [False, True])
def test_sasrec_prefix_loss_is_the_cross_entropy_of_the_scores_a_user_is_ranked_by(repeat_bias):
    config = SASRecConfig(**SMALL, repeat_bias=repeat_bias, repeat_init=0.7 if repeat_bias else 0.0)
    model = SASRec(config, 30).eval()
    assert model.train_mode == "prefix"  # the default: every prefix its own sample, as RecBole
    batch = Batch(torch.tensor([[0, 0, 3, 4], [1, 2, 3, 4], [0, 5, 5, 7]]), torch.tensor([9, 3, 5]))
    loss, _ = model.calculate_loss(batch)
    scores = model.full_sort_predict(batch)[:, 1:]  # the offset already taken off seen items
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(scores, batch.target - 1).item())


def test_sasrec_train_mode_picks_the_samples_and_is_checked(toy_dir, tmp_path):
    over = {**SMALL, "epochs": 1, "batch_size": 8}
    for mode in ("prefix", "sequence"):
        train_run("sasrec", toy_dir, tmp_path / mode, overrides={**over, "train_mode": mode}, progress=False)
        net, data, _, _ = load_run(tmp_path / mode)
        assert net.train_mode == mode
    samples = {m: len(SampleSet(leave_one_out(data).train, m, 8, seed=0)) for m in ("prefix", "sequence")}
    assert samples["prefix"] > samples["sequence"]  # one per target against one per user
    with pytest.raises(ConfigError, match="train_mode 'window': expected prefix|sequence"):
        train_run("sasrec", toy_dir, tmp_path / "bad", overrides={"train_mode": "window"}, progress=False)


def test_a_sasrec_run_made_before_train_mode_existed_loads_and_resumes_as_sequence(toy_dir, tmp_path):
    from laserrec.training.checkpoint import payload_checksum

    over = {**SMALL, "epochs": 1, "batch_size": 8, "train_mode": "sequence"}
    train_run("sasrec", toy_dir, tmp_path / "old", overrides=over, progress=False)
    config_file = tmp_path / "old" / "config.json"  # make it as an older laserrec wrote it
    config = json.loads(config_file.read_text())
    del config["model_config"]["train_mode"]
    config_file.write_text(json.dumps(config))
    for name in ("best.pt", "last.pt"):
        ckpt = torch.load(tmp_path / "old" / name, weights_only=False)
        del ckpt["model_config"]["train_mode"]
        ckpt["checksum"] = payload_checksum(ckpt)
        torch.save(ckpt, tmp_path / "old" / name)
    assert load_run(tmp_path / "old")[0].train_mode == "sequence"
    res = train_run("sasrec", None, tmp_path / "old", overrides={"epochs": 2}, resume=True, progress=False)
    assert res["epochs_run"] == 2 and load_run(tmp_path / "old")[0].train_mode == "sequence"
