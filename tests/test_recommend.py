"""Recommending with a trained run: raw ids in and out, the same ranking as evaluation, every filter applied
before the cut, unknown ids, new items by text (atomic, persisted), and the CLI's options."""

import json

import numpy as np
import pytest
import torch

import laserrec
from cli_run import one_line
from laserrec.data.dataset import leave_one_out
from laserrec.errors import ConfigError, DataError
from laserrec.evaluation.evaluator import evaluate
from laserrec.inference.index import ItemIndex
from laserrec.training.runs import train_run
from test_cli import run

SASREC = {"hidden_size": 16, "n_heads": 2, "inner_size": 32, "max_len": 8, "epochs": 3, "batch_size": 8}
LASER = {
    "dtype": "fp32",
    "phase1_epochs": 1,
    "phase2_epochs": 1,
    "samples_per_epoch": 16,
    "max_history": 3,
    "d_model": 32,
    "n_heads": 2,
    "repeat_bias": True,
    "repeat_init": 0.2,
    "threads": 1,
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_llama):
    """A trained SASRec and a Laser (the paper's mechanics plus the repeat offset) on the toy dataset."""
    from conftest import make_data

    root = tmp_path_factory.mktemp("runs")
    data_dir = make_data().save(root / "toy")
    train_run("sasrec", data_dir, root / "sasrec", overrides=SASREC, progress=False)
    laser = {**LASER, "llm": tiny_llama, "cf_run": str(root / "sasrec")}
    train_run("laser", data_dir, root / "laser", overrides=laser, recipe="paper-cpu", progress=False)
    return root


@pytest.mark.parametrize("model", ["sasrec", "laser"])
def test_the_api_ranks_as_evaluate_does(runs, model):
    rec = laserrec.load(runs / model)
    test = leave_one_out(rec.data).test
    _, ranks = evaluate(rec.net, test, rec.net.history_len, batch_size=7)
    histories = [[rec.data.item_ids[i - 1] for i in h.tolist()] for h in test.histories]
    lists = rec.recommend_many(histories, k=rec.n_items, batch_size=5)
    for items, target, rank in zip(lists, test.targets.tolist(), ranks.tolist(), strict=True):
        assert [i["rank"] for i in items] == list(range(1, rec.n_items + 1))
        assert [i["id"] for i in items].index(rec.data.item_ids[target - 1]) == rank
        assert all(a["score"] >= b["score"] for a, b in zip(items, items[1:], strict=False))


def test_recommend_and_recommend_many_show_their_options_in_their_signatures():
    import inspect

    from laserrec.inference.recommender import LoadedRun

    one = inspect.signature(LoadedRun.recommend).parameters
    many = inspect.signature(LoadedRun.recommend_many).parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in (*one.values(), *many.values()))  # no **options
    assert set(many) - set(one) == {"histories", "batch_size"} and set(one) - set(many) == {"history"}


def test_raw_ids_round_trip_with_their_text(runs):
    rec = laserrec.load(runs / "sasrec")
    top = rec.recommend(["i3", "i4"], k=5)
    assert len(top) == 5 and all(i["id"].startswith("i") for i in top)
    for item in top:
        internal = rec.data.item_ids.index(item["id"]) + 1
        assert item["title"] == rec.data.items[internal].title == f"item {internal}"
        assert item["brand"] == rec.data.items[internal].brand
    assert rec.item("i7")["title"] == "item 7"
    assert rec.history_of("u0") == [rec.data.item_ids[i - 1] for i in rec.data.sequences[0].tolist()]


def test_every_filter_is_a_mask_before_the_cut_and_k_items_come_back_when_k_qualify(runs):
    rec = laserrec.load(runs / "sasrec")
    history = ["i3", "i4", "i5"]
    everything = rec.recommend(history, k=rec.n_items)
    order = [i["id"] for i in everything]
    # brand equals: items whose number is 1 mod 3 ("brand 1"), in the unfiltered order, first 4
    brand = [r for r in order if int(r[1:]) % 3 == 1]
    assert [i["id"] for i in rec.recommend(history, k=4, where={"brand": "Brand 1"})] == brand[:4]
    # categories equal any one category of the path "A,cat N"; contains is a substring of the text
    cat2 = [r for r in order if int(r[1:]) % 4 == 2]
    assert [i["id"] for i in rec.recommend(history, k=3, where={"categories": "cat 2"})] == cat2[:3]
    title = [r for r in order if "1" in r[1:]]  # "item 1", "item 10".."item 19", "item 21"
    got = rec.recommend(history, k=50, where={"title": {"contains": "M 1"}})
    assert [i["id"] for i in got] == [r for r in order if rec.item(r)["title"].startswith("item 1")]
    assert len(title) > len(got) > 0
    # candidates, exclusions and the history
    picked = ["i9", "i2", "i30", "i17"]
    assert [i["id"] for i in rec.recommend(history, k=10, candidates=picked)] == [
        r for r in order if r in picked
    ]
    dropped = rec.recommend(history, k=5, exclude=order[:3])
    assert [i["id"] for i in dropped] == order[3:8]
    fresh = rec.recommend(history, k=8, exclude_history=True)
    assert [i["id"] for i in fresh] == [r for r in order if r not in history][:8]
    both = rec.recommend(history, k=6, exclude_history=True, where={"brand": "brand 0"}, exclude=["i6"])
    expected = [r for r in order if r not in history and int(r[1:]) % 3 == 0 and r != "i6"]
    assert [i["id"] for i in both] == expected[:6] and len(both) == 6
    assert len(rec.recommend(history, k=100, candidates=picked)) == 4  # only 4 qualify: never padded


# k = 4 and filters, candidates and exclusions that leave 0, 1 and k - 1 = 3 items (of "item 1".."item 30")
FEW = [
    ({"where": {"title": "no such title"}}, []),
    ({"where": {"title": {"contains": "zzz"}}, "exclude": ["i1"]}, []),
    ({"where": {"categories": "cat 9"}}, []),
    ({"candidates": ["i1", "i2"], "exclude": ["i2", "i1"]}, []),
    ({"candidates": ["i3", "i4"], "exclude_history": True}, []),
    ({"where": {"title": "ITEM 7"}}, ["i7"]),
    ({"candidates": ["i1", "i2"], "exclude": ["i2"]}, ["i1"]),
    ({"candidates": ["i3", "i4", "i9"], "exclude_history": True}, ["i9"]),
    ({"candidates": ["i1", "i2", "i30"]}, ["i1", "i2", "i30"]),
    (
        {"where": {"title": {"contains": "item 2"}, "brand": "brand 2"}, "exclude": ["i2", "i20"]},
        ["i23", "i26", "i29"],
    ),
    ({"where": {"title": {"contains": "m 2"}, "brand": "brand 1"}}, ["i22", "i25", "i28"]),
]


@pytest.mark.parametrize(("options", "left"), FEW)
def test_fewer_qualifying_than_k_gives_those_and_says_how_many(runs, options, left):
    rec = laserrec.load(runs / "sasrec")
    order = [i["id"] for i in rec.recommend(["i3", "i4"], k=rec.n_items)]
    got = rec.recommend(["i3", "i4"], k=4, **options)
    assert [i["id"] for i in got] == [r for r in order if r in left] and got.qualified == len(left)
    assert [i["rank"] for i in got] == list(range(1, len(left) + 1))
    both = rec.recommend_many([["i3", "i4"], ["i5"]], k=4, **options)
    assert [i["id"] for i in both[0]] == [i["id"] for i in got] and both[0].qualified == len(left)
    assert rec.recommend(["i3"], k=4).qualified == 30 and len(rec.recommend(["i3"], k=4)) == 4


def test_bad_requests_name_the_value(runs):
    rec = laserrec.load(runs / "sasrec")
    with pytest.raises(DataError, match="1 item id.*'nope'"):
        rec.recommend(["i3", "nope"])
    kept = rec.recommend(["i3", "nope"], k=3, on_unknown="skip")
    assert kept.skipped == ["nope"] and len(kept) == 3
    assert [i["id"] for i in kept] == [i["id"] for i in rec.recommend(["i3"], k=3)]
    with pytest.raises(DataError, match="no item of the catalog"):
        rec.recommend(["nope"], on_unknown="skip")
    with pytest.raises(ConfigError, match="unknown item field 'colour'"):
        rec.recommend(["i3"], where={"colour": "red"})
    with pytest.raises(DataError, match="candidates: 1 id"):
        rec.recommend(["i3"], candidates=["i1", "x"])
    for k in (0, -1, 2.5, True):
        with pytest.raises(ConfigError, match="k must be a positive integer"):
            rec.recommend(["i3"], k=k)
    with pytest.raises(ConfigError, match="learns one vector per item id"):
        rec.add_items([{"item": "n1", "title": "new thing"}])


def test_added_items_are_scored_as_the_model_scores_them_persist_and_appear_in_histories(runs, tmp_path):
    import shutil

    run_dir = tmp_path / "laser"
    shutil.copytree(runs / "laser", run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    config["model_config"]["cf_run"] = str(runs / "sasrec")
    (run_dir / "config.json").write_text(json.dumps(config))
    rec = laserrec.load(run_dir, device="cpu")  # its model is called by hand below, on CPU tensors
    new = [
        {"item": "n1", "title": "item 7 deluxe", "brand": "brand 1"},
        {"item": "n2", "title": "garden hose"},
    ]
    assert rec.add_items(new) == ["n1", "n2"] and rec.n_items == 32
    ranked = rec.recommend(["i5", "i6"], k=32)
    scores = {i["id"]: i["score"] for i in ranked}
    with torch.no_grad():  # by hand: cosine of the user against the new items' own encodings
        user = rec.net.user_vectors(torch.tensor([[5, 6]]))
        items = torch.nn.functional.normalize(rec.net.encode_items(torch.tensor([31, 32])), dim=-1)
    for n, raw in enumerate(["n1", "n2"]):
        assert scores[raw] == pytest.approx(float(user[0] @ items[n]), abs=1e-5)
    assert rec.recommend(["i5", "n1"], k=3)  # a new item in a history
    again = laserrec.load(run_dir)  # persisted: a fresh load holds them and ranks the same
    assert again.n_items == 32 and again.item("n2")["title"] == "garden hose"
    assert [i["id"] for i in again.recommend(["i5", "i6"], k=32)] == [i["id"] for i in ranked]
    with pytest.raises(DataError, match="'n1' is already in the catalog"):
        again.add_items([{"item": "n1", "title": "again"}])


def test_add_items_that_fail_halfway_leave_the_index_and_the_object_unchanged(runs, tmp_path, monkeypatch):
    import shutil

    run_dir = tmp_path / "laser"
    shutil.copytree(runs / "laser", run_dir)
    rec = laserrec.load(run_dir)
    manifest = (run_dir / "index" / "manifest.json").read_text()
    before = rec.recommend(["i5", "i6"], k=30)
    real_save = ItemIndex.save

    def crash(self, folder):  # the new generation's vectors are written, then the process dies
        from safetensors.torch import save_file

        save_file({"vectors": self.vectors}, folder / "vectors-99.safetensors")
        raise OSError("disk full")

    monkeypatch.setattr(ItemIndex, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        rec.add_items([{"item": "n1", "title": "new"}])
    monkeypatch.setattr(ItemIndex, "save", real_save)
    assert (run_dir / "index" / "manifest.json").read_text() == manifest
    assert rec.n_items == 30 and rec.recommend(["i5", "i6"], k=30) == before
    assert laserrec.load(run_dir).n_items == 30
    rec.add_items([{"item": "n1", "title": "new"}])  # works afterwards; leftovers of the crash are gone
    assert not (run_dir / "index" / "vectors-99.safetensors").exists()


def test_item_vectors_reproduce_each_models_own_scores(runs):
    for model in ("sasrec", "laser"):
        rec = laserrec.load(runs / model, device="cpu")  # its model is called by hand, on CPU tensors
        history = torch.tensor([[0, 3, 4, 5], [1, 2, 3, 4]])
        from laserrec.models.base import Batch

        with torch.no_grad():
            full = rec.net.full_sort_predict(Batch(history, torch.zeros(2, dtype=torch.long)))[:, 1:]
            rows, bias = rec.net.item_vectors()
            by_hand = rec.net.user_vectors(history) @ rows[1:].T + (0 if bias is None else bias[1:])
            seen = np.zeros((2, rec.n_items), dtype=bool)
            for b, h in enumerate(history.tolist()):
                seen[b, [i - 1 for i in h if i]] = True
            by_hand -= rec.net.repeat_offset() * torch.from_numpy(seen)
        torch.testing.assert_close(full, by_hand)
        assert (rec.net.repeat_offset() != 0) == (model == "laser")


def test_a_damaged_histories_file_is_one_line_naming_the_file_and_line(runs, tmp_path):
    path = tmp_path / "h.jsonl"
    for text, where in (
        ('["i3"]\n\n["i4",\n', ", line 3: malformed JSON"),
        ('["i3"]\n"i4"\n', ', line 2: expected a list of raw item ids or {"history": [...]}'),
        ("\n", ": file is empty"),
    ):
        path.write_text(text)
        code, out = run("recommend", str(runs / "sasrec"), "--histories", str(path))
        assert code == 2 and one_line(out) and f"{path}{where}" in out


def test_cli_recommend_index_and_add_items(runs, tmp_path):
    code, out = run("recommend", str(runs / "sasrec"), "--history", "i3,i4", "--k", "4")
    assert code == 0 and out.count("\n| ") == 5 and "| rank | id | title |" in out
    code, out = run("recommend", str(runs / "sasrec"), "--user", "u1", "--k", "2", "--format", "json")
    body = json.loads(out)
    assert code == 0 and body["user"] == "u1" and len(body["items"]) == 2
    (tmp_path / "h.jsonl").write_text('["i3", "i4"]\n{"user": "x", "history": ["i5"]}\n')
    (tmp_path / "cand.txt").write_text("i1\ni2\ni3\n")
    (tmp_path / "excl.txt").write_text("i1\n")
    code, out = run(
        "recommend", str(runs / "sasrec"), "--histories", str(tmp_path / "h.jsonl"), "--k", "5",
        "--candidates", str(tmp_path / "cand.txt"), "--exclude", str(tmp_path / "excl.txt"),
        "--exclude-history", "--where", "categories~cat", "--format", "jsonl",
    )  # fmt: skip
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(lines) == 2 and lines[1]["user"] == "x"
    assert [i["id"] for i in lines[0]["items"]] == ["i2"] and {i["id"] for i in lines[1]["items"]} == {
        "i2",
        "i3",
    }
    code, out = run(
        "recommend", str(runs / "sasrec"), "--history", "i3,zz", "--skip-unknown", "--format", "json"
    )
    assert code == 0 and json.loads(out)["skipped"] == ["zz"]
    code, out = run("recommend", str(runs / "sasrec"), "--history", "i3", "--where", "title=nosuchtitle")
    assert code == 0 and "top 0 of 0 qualifying item(s)" in out and "no item passes these filters" in out
    code, out = run(
        "recommend", str(runs / "sasrec"), "--history", "i3", "--where", "title~item 2", "--where",
        "brand=brand 1", "--k", "4", "--format", "json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["qualified"] == 3 and len(json.loads(out)["items"]) == 3
    code, out = run("recommend", str(runs / "sasrec"), "--history", "i3", "--user", "u1")
    assert code == 2 and "exactly one of" in out
    code, out = run("recommend", str(runs / "sasrec"), "--history", "i3", "--where", "brand")
    assert code == 2 and "FIELD=VALUE" in out
    code, out = run("index", str(runs / "sasrec"))
    assert code == 0 and "30 items (dot" in out
    code, out = run("add-items", str(runs / "sasrec"), "--items", str(tmp_path / "h.jsonl"))
    assert code == 2


def test_prepare_hides_items_and_add_items_brings_them_back_by_text(tmp_path, tiny_llama):
    from test_cli import write_csv_dataset

    write_csv_dataset(tmp_path / "raw")
    code, out = run("prepare", str(tmp_path / "raw"), "--out", str(tmp_path / "data"), "--hide-items", "0.3")
    assert code == 0 and "hidden: 2 items (0.3 of the catalog, seed 0)" in out
    meta = json.loads((tmp_path / "data" / "meta.json").read_text())
    hidden = [r["item"] for r in meta["hidden_items"]["items"]]
    assert meta["n_items"] == 5 and len(hidden) == 2 and not set(hidden) & set(meta["item_ids"])
    code, again = run(
        "prepare", str(tmp_path / "raw"), "--out", str(tmp_path / "data2"), "--hide-items", "0.3"
    )
    assert (
        json.loads((tmp_path / "data2" / "meta.json").read_text())["hidden_items"]["items"]
        == meta["hidden_items"]["items"]
    )
    sequences = np.load(tmp_path / "data" / "sequences.npz")["items"]
    assert sequences.max() == 5  # every interaction with a hidden item left with it
    # A plain learned prefix (no ID model) and no repeat offset: a history of one item is then the very
    # prompt of that item, so an item added back from its text is the first of 7 for a user who has just
    # read it — and loses that place if it was encoded from anything but its own text.
    laser = {**LASER, "llm": tiny_llama, "prefix_source": "learned", "repeat_bias": False, "max_history": 2}
    laser.pop("repeat_init")
    train_run(
        "laser", tmp_path / "data", tmp_path / "laser", overrides=laser, recipe="paper-cpu", progress=False
    )
    code, out = run("add-items", str(tmp_path / "laser"), "--items", str(tmp_path / "data"))
    assert code == 0 and "added 2 item(s)" in out and "now holds 7" in out
    rec = laserrec.load(tmp_path / "laser")
    for item in hidden:
        assert [i["id"] for i in rec.recommend([item], k=1)] == [item]
    code, out = run("add-items", str(tmp_path / "laser"), "--items", str(tmp_path / "raw"))
    assert code == 2 and "not a prepared dataset with hidden items" in out


def test_an_index_from_another_checkpoint_is_rebuilt_and_keeps_the_added_items(runs, tmp_path):
    import shutil

    run_dir = tmp_path / "laser"
    shutil.copytree(runs / "laser", run_dir)
    laserrec.load(run_dir).add_items([{"item": "n1", "title": "item 7 deluxe"}])
    manifest = json.loads((run_dir / "index" / "manifest.json").read_text())
    manifest["checkpoint"] = "0" * 64  # as if best.pt had changed since (a resumed run)
    (run_dir / "index" / "manifest.json").write_text(json.dumps(manifest))
    rec = laserrec.load(run_dir)
    assert rec.n_items == 31 and rec.item("n1")["title"] == "item 7 deluxe"
    assert json.loads((run_dir / "index" / "manifest.json").read_text())["checkpoint"] != "0" * 64


def stale_index(run_dir) -> None:
    """The run's item index as if best.pt had changed since it was written (a resumed run)."""
    manifest = json.loads((run_dir / "index" / "manifest.json").read_text())
    (run_dir / "index" / "manifest.json").write_text(json.dumps({**manifest, "checkpoint": "0" * 64}))


def test_the_rebuild_notice_is_logged_on_stderr_apart_from_the_results(runs, tmp_path, caplog):
    import logging
    import shutil

    from typer.testing import CliRunner

    from laserrec import cli

    run_dir = tmp_path / "sasrec"
    shutil.copytree(runs / "sasrec", run_dir)
    stale_index(run_dir)
    args = ["recommend", str(run_dir), "--history", "i3", "--k", "2", "--format", "json"]
    result = CliRunner().invoke(cli.app, args, catch_exceptions=False)
    assert result.exit_code == 0 and len(json.loads(result.stdout)["items"]) == 2  # stdout: JSON only
    assert "rebuilding it from best.pt" in result.stderr
    stale_index(run_dir)  # in Python: a warning of the "laserrec" logger, which the caller can silence
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        laserrec.load(run_dir)
    assert [r.name for r in caplog.records] == ["laserrec.inference.recommender"]
    stale_index(run_dir)
    caplog.clear()
    logging.getLogger("laserrec").setLevel(logging.ERROR)
    try:
        laserrec.load(run_dir)
    finally:
        logging.getLogger("laserrec").setLevel(logging.NOTSET)
    assert not caplog.records
