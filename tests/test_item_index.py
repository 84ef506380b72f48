"""The item index by hand: chunked exact top-k, the repeat offset and exclusions, field filters, saving by
generations, and the FAISS path's recall against exact search (with its filters holding)."""

import json

import pytest
import torch

from laserrec.errors import ConfigError
from laserrec.inference.approximate import ApproximateSearch
from laserrec.inference.index import ItemIndex, qualifying

TEXTS = [
    {"title": "Red pen", "brand": "Bic", "categories": "Office, Pens"},
    {"title": "Blue ink", "brand": "Bic", "categories": "Office, Ink"},
    {"title": "Pen case", "brand": "Acme", "categories": "Office, Cases"},
    {"title": "Stapler", "brand": "acme", "categories": "Office, Staplers"},
]


def small() -> ItemIndex:
    vectors = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]])
    return ItemIndex(vectors, torch.tensor([0.0, 0.5, 0.0, 0.0]), ["a", "b", "c", "d"], TEXTS, "dot", 4)


def test_top_k_by_hand_with_bias_offset_and_exclusions():
    index = small()
    q = torch.tensor([[2.0, 1.0]])  # scores: a 2, b 1 + 0.5, c 3, d -1.5
    scores, rows = index.top_k(q, 3)
    assert rows.tolist() == [[2, 0, 1]] and scores.tolist() == [[3.0, 2.0, 1.5]]
    scores, rows = index.top_k(q, 4, offset_rows=[[2, 1]], offset=1.2)  # c and b lose 1.2
    assert rows.tolist() == [[0, 2, 1, 3]] and scores[0].tolist() == pytest.approx([2.0, 1.8, 0.3, -1.5])
    scores, rows = index.top_k(q, 3, excluded_rows=[[2]])
    assert rows.tolist() == [[0, 1, 3]]
    allowed = torch.tensor([True, False, False, True])
    scores, rows = index.top_k(q, 3, allowed=allowed)  # only 2 qualify: the list ends in -inf / -1
    assert rows.tolist() == [[0, 3, -1]] and scores[0, 2] == float("-inf")


@pytest.mark.parametrize(
    ("rows", "top", "without_a", "on_a_line"),
    [
        ([], [-1, -1, -1], [-1, -1, -1], [-1, -1, -1]),
        ([3], [3, -1, -1], [3, -1, -1], [53, -1, -1]),
        ([3, 0], [0, 3, -1], [3, -1, -1], [53, 50, -1]),
    ],
)
def test_fewer_allowed_than_k_gives_those_without_an_error(rows, top, without_a, on_a_line):
    """k = 3 with none, one and k - 1 items allowed: the list holds those, then -1 rows at -inf."""
    q = torch.tensor([[2.0, 1.0], [2.0, 1.0]])  # scores: a 2, b 1.5, c 3, d -1.5
    allowed = torch.zeros(4, dtype=torch.bool)
    allowed[rows] = True
    scores, got = small().top_k(q, 3, allowed=allowed, excluded_rows=[[], [0]])  # the second user has a
    assert got.tolist() == [top, without_a]
    assert torch.isinf(scores[got < 0]).all() and not torch.isinf(scores[got >= 0]).any()
    assert qualifying(4, allowed, [[], [0, 0]], 2) == [len(rows), sum(r >= 0 for r in without_a)]
    assert qualifying(4, None, None, 2) == [4, 4]
    line = ItemIndex(
        torch.tensor([[float(i), 0.0] for i in range(100)]), None, [str(i) for i in range(100)], []
    )
    few = torch.zeros(100, dtype=torch.bool)  # under an eighth of the catalog: scored on their own
    few[[r + 50 for r in rows]] = True
    assert line.top_k(torch.tensor([[1.0, 0.0]]), 3, few)[1].tolist() == [on_a_line]  # score = row


def test_chunked_scoring_and_the_small_candidate_path_equal_one_product():
    torch.manual_seed(0)
    index = ItemIndex(torch.randn(1000, 8), torch.randn(1000), [str(i) for i in range(1000)], [{}] * 1000)
    q = torch.randn(5, 8)
    history = [[1, 2, 3], [], [999], [10, 500], [0]]
    whole = index.top_k(q, 20, offset_rows=history, offset=0.7, excluded_rows=[[4], [], [], [11], []])
    chunked = index.top_k(q, 20, None, history, 0.7, [[4], [], [], [11], []], chunk=37)
    assert torch.equal(whole[1], chunked[1]) and torch.allclose(whole[0], chunked[0])
    allowed = torch.zeros(1000, dtype=torch.bool)
    allowed[torch.arange(0, 1000, 17)] = True  # 59 rows: below an eighth, scored on their own
    few = index.top_k(q, 10, allowed, history, 0.7)
    full = q @ index.vectors.T + index.bias
    for b, rows in enumerate(history):
        full[b, rows] -= 0.7
    full[:, ~allowed] = float("-inf")
    assert torch.equal(few[1], full.topk(10).indices)


def test_where_equals_contains_and_categories():
    index = small()
    assert index.where({"brand": "ACME"}).tolist() == [False, False, True, True]
    assert index.where({"title": {"contains": "pen"}}).tolist() == [True, False, True, False]
    assert index.where({"categories": "ink"}).tolist() == [False, True, False, False]
    assert index.where({"categories": "office", "brand": "bic"}).tolist() == [True, True, False, False]
    with pytest.raises(ConfigError, match="unknown item field 'color'"):
        index.where({"color": "red"})
    with pytest.raises(ConfigError, match="contains"):
        index.where({"title": {"startswith": "R"}})


def test_save_writes_a_new_generation_and_switches_the_manifest(tmp_path):
    index = small()
    index.save(tmp_path / "index")
    (tmp_path / "index" / "vectors-7.safetensors").write_bytes(b"left by a killed write")
    index.raw_ids[0] = "a2"
    index.save(tmp_path / "index")
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert manifest["generation"] == 2 and manifest["files"]["vectors"] == "vectors-2.safetensors"
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == [
        "items-2.jsonl", "manifest.json", "vectors-2.safetensors"
    ]  # fmt: skip
    again = ItemIndex.load(tmp_path / "index")
    assert again.raw_ids == ["a2", "b", "c", "d"] and torch.equal(again.vectors, index.vectors)
    assert torch.equal(again.bias, index.bias) and again.scoring == "dot"
    assert again.texts == [{**t, "description": ""} for t in TEXTS]


def clustered(n: int = 6000, d: int = 32, seed: int = 0) -> tuple[ItemIndex, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(60, d, generator=g)
    items = centres[torch.randint(0, 60, (n,), generator=g)] + 0.3 * torch.randn(n, d, generator=g)
    queries = items[torch.randint(0, n, (200,), generator=g)] + 0.3 * torch.randn(200, d, generator=g)
    items = torch.nn.functional.normalize(items, dim=-1)
    return ItemIndex(items, None, [str(i) for i in range(n)], [{}] * n, "cosine", n), queries


def test_faiss_recall_against_exact_search_and_its_filters_hold():
    pytest.importorskip("faiss")
    index, queries = clustered()
    approx = ApproximateSearch(index, n_probe=8)
    _, exact = index.top_k(queries, 10)
    _, found = approx.top_k(queries, 10)
    recall = (
        sum(len(set(a) & set(e)) for a, e in zip(found.tolist(), exact.tolist(), strict=True)) / exact.numel()
    )
    assert recall >= 0.9
    allowed = torch.zeros(index.n_items, dtype=torch.bool)
    allowed[::3] = True
    history = [[int(r) for r in rows[:3]] for rows in exact.tolist()]
    _, found = approx.top_k(queries, 10, allowed, history, 0.05, history)
    assert (found >= 0).all() and (found % 3 == 0).all()  # k items, every one allowed
    assert not any(set(f) & set(h) for f, h in zip(found.tolist(), history, strict=True))
    few = torch.zeros(index.n_items, dtype=torch.bool)
    few[[5, 77, 901]] = True  # fewer than k qualify: exactly those, best first
    scores, found = approx.top_k(queries[:2], 10, few)
    assert sorted(found[0, :3].tolist()) == [5, 77, 901] and (found[:, 3:] == -1).all()
