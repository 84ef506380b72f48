"""The models fitted without gradient steps — most popular, the text-only floor, the late fusion — as
models: numbers worked out by hand for their fits, then trained, recommended with, served and given new
items through the public API and the command line like any run."""

import json
import math

import numpy as np
import pytest
import torch

import laserrec
from cli_run import run
from laserrec.data.dataset import EvalSet, ItemText, PreparedData, leave_one_out
from laserrec.errors import ConfigError
from laserrec.evaluation.evaluator import evaluate
from laserrec.models.base import Batch, Recommender
from laserrec.models.fusion.config import FusionConfig
from laserrec.models.fusion.model import LateFusion, standardised
from laserrec.models.text.model import recency_users
from laserrec.training.runs import train_run

# Training parts (leave-one-out) of these users: u0 [1, 1, 1], u1 [2, 1, 2], u2 [5, 5] (too short to
# evaluate), u3 [3, 2, 1]: counts 1: 5, 2: 3, 5: 2, 3: 1, 4: 0. Test targets: u0 3, u1 5, u3 2.
POPULAR = [[1, 1, 1, 2, 3], [2, 1, 2, 4, 5], [5, 5], [3, 2, 1, 4, 2]]


def popular_data() -> PreparedData:
    seqs = [np.array(s, dtype=np.int64) for s in POPULAR]
    items = [ItemText()] + [ItemText(title=f"thing {i}") for i in range(1, 6)]
    return PreparedData(seqs, items, [f"u{u}" for u in range(4)], [f"i{i}" for i in range(1, 6)])


def test_most_popular_ranks_by_training_counts_and_gives_an_added_item_count_zero(tmp_path):
    data_dir = popular_data().save(tmp_path / "data")
    results = train_run("most_popular", data_dir, tmp_path / "pop", progress=False)
    # pessimistic ranks of the test targets: 3 (count 1) has 1, 2, 5 above it; 5 (2) has 1, 2; 2 (3) has 1
    ranks = [3, 2, 1]
    assert results["test"]["mrr"] == pytest.approx(sum(1 / (r + 1) for r in ranks) / 3)
    assert results["test"]["ndcg@5"] == pytest.approx(sum(1 / math.log2(r + 2) for r in ranks) / 3)
    assert results["test"]["recall@5"] == 1.0 and results["epochs_run"] == 0 and results["best_epoch"] == 0
    rec = laserrec.load(tmp_path / "pop")
    top = rec.recommend(["i4"], k=5)
    assert [i["id"] for i in top] == ["i1", "i2", "i5", "i3", "i4"] and top[0]["score"] == 5.0
    rec.add_items([{"item": "new", "title": "thing 6"}])
    last = rec.recommend(["i1"], k=6)[-2:]
    assert {i["id"] for i in last} == {"i4", "new"} and {i["score"] for i in last} == {0.0}
    assert [i["id"] for i in rec.recommend(["i1"], k=2, candidates=["new", "i3"])] == ["i3", "new"]


def test_a_user_is_the_recency_weighted_mean_of_the_last_window_items():
    items = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])  # unit rows, row 0 = padding
    history = torch.tensor([[0, 1, 2, 3], [0, 0, 0, 2]])
    users = recency_users(history, items, window=50, decay=0.5)
    expected = torch.tensor([0.25, 0.5, 1.0]) / math.sqrt(0.25**2 + 0.5**2 + 1)  # ages 2, 1, 0
    torch.testing.assert_close(users[0], expected)
    torch.testing.assert_close(users[1], torch.tensor([0.0, 1, 0]))
    two = recency_users(history, items, window=2, decay=0.5)[0]  # item 1 is outside the window
    torch.testing.assert_close(two, torch.tensor([0.0, 0.5, 1]) / math.sqrt(1.25))


def test_standardised_scores_each_row_over_the_catalog():
    z = standardised(torch.tensor([[0.0, 1, 2, 3], [9.0, 4, 4, 4]]))
    assert z[:, 0].tolist() == [float("-inf")] * 2  # padding, whatever its score
    torch.testing.assert_close(z[0, 1:], torch.tensor([-1.0, 0, 1]))  # mean 2, sample std 1
    assert z[1, 1:].tolist() == [0.0, 0.0, 0.0]  # a flat row: no opinion, not nan


class FixedID(Recommender):
    """An ID model whose scores of items 1..4 are 0, 1, 3, 2 for every user."""

    config, n_items = None, 4

    @property
    def history_len(self):
        return 5

    def full_sort_predict(self, batch):
        scores = torch.tensor([float("-inf"), 0.0, 1.0, 3.0, 2.0])
        return scores.expand(len(batch), -1).clone()


def test_the_fusion_chooses_the_weight_worked_out_by_hand(backbone):
    # Items 1 and 2 read "alpha", 3 and 4 "beta": for history [1] the text scores are 1, 1, c, c, so
    # z(text) = +-sqrt(3)/2 whatever c; z(ID) of 0, 1, 3, 2 = (-1.5, -0.5, 1.5, 0.5) / sqrt(5/3). Target 2
    # beats item 4 from w > 0.447 and item 3 from w > 0.894: over 0, 0.5, 1, 2 it ranks 2, 1, 0, 0, so
    # NDCG@10 picks 1 (the smallest of the tie).
    texts = [ItemText(), *(ItemText(title=t) for t in ("alpha", "alpha", "beta", "beta"))]
    config = FusionConfig(llm="tiny", weights=[0.0, 0.5, 1.0, 2.0])
    model = LateFusion(config, 4, texts, backbone, FixedID()).eval()
    users = EvalSet(np.array([0]), [np.array([1])], np.array([2]))

    def validate():
        return evaluate(model, users, model.history_len, (10,), progress=False)[0]["ndcg@10"]

    found = model.fit_statistics([], validate)
    ndcg = [1 / math.log2(r + 2) for r in (2, 1, 0, 0)]
    assert found["text_weight"] == 1.0
    assert found["valid_by_weight"] == {
        w: round(n, 5) for w, n in zip(("0", "0.5", "1", "2"), ndcg, strict=True)
    }
    z_id = torch.tensor([-1.5, -0.5, 1.5, 0.5]) / math.sqrt(5 / 3)
    z_text = torch.tensor([1.0, 1, -1, -1]) * math.sqrt(3) / 2
    scores = model.full_sort_predict(Batch(torch.tensor([[1]]), torch.tensor([2])))[0, 1:]
    torch.testing.assert_close(scores, z_id + z_text, atol=1e-4, rtol=0)
    # added items: 0 from the ID part, so each sits exactly its item's z(ID) from a trained twin
    model.add_items([ItemText(title="alpha"), ItemText(title="beta")])
    scores = model.full_sort_predict(Batch(torch.tensor([[1]]), torch.tensor([2])))[0, 1:]
    assert scores[4] - scores[1] == pytest.approx(-z_id[1].item(), abs=1e-4)  # above item 2 ...
    assert scores[2] - scores[5] == pytest.approx(z_id[2].item(), abs=1e-4)  # ... below item 3: it loses
    only_new = model.full_sort_predict(Batch(torch.tensor([[5]]), torch.tensor([1])))[0, 1:]
    assert only_new.argmax().item() in (0, 1, 4)  # a history of an added item: its text ranks (alpha)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_llama):
    """SASRec, then text and fusion on it, trained on the toy dataset through the command line."""
    from cli_run import train_sasrec
    from conftest import make_data

    root = tmp_path_factory.mktemp("fitted")
    data = make_data().save(root / "toy")
    code, out = train_sasrec(data, root / "sasrec", "--epochs=3")
    assert code == 0, out
    common = ["-d", data, "--llm", tiny_llama, "-q", "--dtype=fp32"]
    code, out = run("train", "-m", "fusion", "--cf", root / "sasrec", "-o", root / "fusion", *common)
    assert code == 0, out
    code, out = run("train", "-m", "text", "-o", root / "text", *common)
    assert code == 0, out
    return root


def test_a_fusion_run_records_its_weight_and_every_weights_validation_score(runs):
    metrics = json.loads((runs / "fusion" / "metrics.json").read_text())
    fitted = metrics["fitted"]
    assert set(fitted["valid_by_weight"]) == {
        "0",
        "0.05",
        "0.1",
        "0.2",
        "0.3",
        "0.5",
        "0.75",
        "1",
        "1.5",
        "2",
        "3",
    }
    best = max(fitted["valid_by_weight"].values())
    assert fitted["valid_by_weight"][f"{fitted['text_weight']:g}"] == best
    assert (
        metrics["valid"]["ndcg@10"] == pytest.approx(best, abs=1e-5) and fitted["valid_metric"] == "ndcg@10"
    )
    assert metrics["epochs_run"] == 0 and {"valid", "test"} <= set(metrics)
    config = json.loads((runs / "fusion" / "config.json").read_text())
    assert config["cf_run"]["checkpoint"] and config["data_hash"] and config["model"] == "fusion"
    log = [json.loads(line) for line in (runs / "fusion" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and log[0]["epoch"] == 0 and log[0]["fitted"] == fitted
    code, out = run("train", "-o", runs / "fusion", "--resume", "-q")
    assert code == 0 and "nothing more to train" in out


@pytest.mark.parametrize("model", ["fusion", "text"])
def test_recommend_ranks_as_evaluate_does_and_the_command_line_agrees(runs, model):
    rec = laserrec.load(runs / model)
    test = leave_one_out(rec.data).test
    _, ranks = evaluate(rec.net, test, rec.net.history_len, batch_size=7, progress=False)
    histories = [[rec.data.item_ids[i - 1] for i in h.tolist()] for h in test.histories]
    for items, target, rank in zip(
        rec.recommend_many(histories, k=rec.n_items), test.targets, ranks, strict=True
    ):
        assert [i["id"] for i in items].index(rec.data.item_ids[target - 1]) == rank
    code, out = run("recommend", runs / model, "--history", "i3,i4", "--k", "4", "--format", "json")
    assert code == 0, out
    assert [i["id"] for i in json.loads(out)["items"]] == [i["id"] for i in rec.recommend(["i3", "i4"], k=4)]
    code, out = run("evaluate", runs / model, "--split", "test", "--mask-seen")
    assert code == 0 and json.loads(out)["mask_seen"] is True


def test_text_ranks_an_added_item_by_its_text_where_it_can_lose(runs, tmp_path):
    import shutil

    shutil.copytree(runs / "text", tmp_path / "text")
    items = tmp_path / "new.jsonl"
    twin = {"item": "twin", "title": "item 5", "brand": "brand 2", "categories": "A,cat 1"}  # i5's text
    other = {"item": "other", "title": "a garden hose", "categories": "Garden"}
    items.write_text(json.dumps(twin) + "\n" + json.dumps(other) + "\n")
    code, out = run("add-items", tmp_path / "text", "--items", items)
    assert code == 0 and "the catalog now holds 32" in out, out
    rec = laserrec.load(tmp_path / "text")
    ranked = rec.recommend(["i5"], k=3, candidates=["twin", "other", "i5"])
    assert ranked[0]["score"] == pytest.approx(ranked[1]["score"], abs=1e-5)  # i5 and its twin: cosine 1
    assert {ranked[0]["id"], ranked[1]["id"]} == {"i5", "twin"} and ranked[2]["id"] == "other"
    assert rec.recommend(["i5"], k=1, exclude_history=True)[0]["id"] == "twin"


def test_the_fusion_is_served_over_http_and_takes_new_items(runs, tmp_path):
    import shutil

    import httpx

    from laserrec.inference.serve import create_app
    from serve_fixtures import live_server

    shutil.copytree(runs / "fusion", tmp_path / "fusion")
    rec = laserrec.load(tmp_path / "fusion")
    new = {"items": [{"item": "n1", "title": "item 5", "brand": "brand 2", "categories": "A,cat 1"}]}
    with live_server(create_app(rec, token="s3cret")) as url, httpx.Client(base_url=url) as client:
        body = {"history": ["i3", "i4"], "k": 5, "exclude_history": True, "where": {"brand": "brand 0"}}
        reply = client.post("/recommend", json=body)
        expected = rec.recommend(["i3", "i4"], 5, exclude_history=True, where={"brand": "brand 0"})
        assert reply.status_code == 200 and reply.json()["items"] == list(expected)
        health = client.get("/health").json()
        assert health["takes_new_items"] and health["scoring"] == "full"
        added = client.post("/items", json=new, headers={"Authorization": "Bearer s3cret"})
        assert added.status_code == 200 and added.json() == {"added": ["n1"], "n_items": 31}
        top = client.post("/recommend", json={"history": ["i5"], "k": 31}).json()["items"]
        assert "n1" in [i["id"] for i in top]
    again = laserrec.load(tmp_path / "fusion")  # persisted: the same ranking after a restart
    assert [i["id"] for i in again.recommend(["i5"], k=31)] == [i["id"] for i in top]
    with pytest.raises(ConfigError, match="scores every item itself"):
        again.recommend(["i5"], k=3, approximate=True)


def test_a_fusion_without_an_id_run_or_a_text_model_without_its_encoder_stops_with_one_line(
    toy_dir, tmp_path
):
    from cli_run import one_line

    code, out = run("train", "-m", "fusion", "-d", toy_dir, "-o", tmp_path / "f", "-q")
    assert code == 2 and "pass its folder with --cf" in out and one_line(out), out
    code, out = run(
        "train", "-m", "text", "-d", toy_dir, "-o", tmp_path / "t", "--llm", tmp_path / "no", "-q"
    )
    assert code == 2 and "does not exist" in out and one_line(out), out
    assert not (tmp_path / "f").exists() and not (tmp_path / "t").exists()  # nothing half-written
