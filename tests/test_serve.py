"""The service through a real HTTP client against uvicorn on loopback: the same rankings as the library,
every bad request a 4xx naming the value, batching that answers each request as alone, added items that need
the token, persist, and survive a restart or a kill during the write."""

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

import laserrec
from laserrec.inference import serve as serve_module
from laserrec.inference.serve import create_app
from serve_fixtures import free_port, live_server, train_tiny_runs
from test_recommend import FEW


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_llama):
    return train_tiny_runs(tmp_path_factory.mktemp("served"), tiny_llama)


@pytest.fixture(scope="module")
def sasrec(runs):
    rec = laserrec.load(runs / "sasrec")
    with live_server(create_app(rec, batch_wait_ms=20)) as url, httpx.Client(base_url=url) as client:
        yield rec, client


def test_recommendations_over_http_are_the_librarys(sasrec):
    rec, client = sasrec
    cases = [
        {"history": ["i3", "i4"], "k": 5},
        {"history": ["i3", "i4", "i5"], "k": 6, "exclude_history": True, "where": {"brand": "Brand 0"}},
        {"history": ["i9"], "k": 4, "where": {"title": {"contains": "M 1"}, "categories": "cat 1"}},
        {"history": ["i9", "zz"], "k": 3, "candidates": ["i1", "i2", "i3", "i9"], "on_unknown": "skip"},
        {"history": ["i2"], "k": 30, "exclude": ["i1", "i30"]},
    ]
    for body in cases:
        reply = client.post("/recommend", json=body)
        assert reply.status_code == 200, reply.text
        options = {key: value for key, value in body.items() if key not in ("history", "k")}
        expected = rec.recommend(body["history"], body["k"], **options)
        assert reply.json() == {
            "items": list(expected),
            "skipped": expected.skipped,
            "qualified": expected.qualified,
        }
    assert client.post("/recommend", json=cases[3]).json()["skipped"] == ["zz"]
    histories = [["i3"], ["i5", "i6"], ["i7", "i8", "i9"]]
    reply = client.post("/recommend/batch", json={"histories": histories, "k": 4, "exclude_history": True})
    expected = rec.recommend_many(histories, 4, exclude_history=True)
    assert [r["items"] for r in reply.json()["results"]] == [list(e) for e in expected]


@pytest.mark.parametrize(("options", "left"), FEW)
def test_fewer_qualifying_than_k_is_a_200_with_those_and_their_count(sasrec, options, left):
    rec, client = sasrec
    reply = client.post("/recommend", json={"history": ["i3", "i4"], "k": 4, **options})
    expected = rec.recommend(["i3", "i4"], 4, **options)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"items": list(expected), "skipped": [], "qualified": len(left)}
    assert sorted(i["id"] for i in reply.json()["items"]) == sorted(left)
    reply = client.post("/recommend/batch", json={"histories": [["i3", "i4"], ["i5"]], "k": 4, **options})
    assert reply.status_code == 200, reply.text
    first = reply.json()["results"][0]
    assert first["qualified"] == len(left) and first["items"] == list(expected)


@pytest.mark.parametrize(
    ("body", "field", "named"),
    [
        ({"history": ["i3", "nope"]}, "", "'nope'"),
        ({"history": []}, "body.history", "at least 1 item"),
        ({"history": ["i3"], "k": 0}, "body.k", "greater than or equal to 1"),
        ({"history": ["i3"], "k": 31}, "", "k: 31 is more than the catalog holds (30 items)"),
        ({"history": ["i3"], "k": "5"}, "body.k", "valid integer (got '5')"),
        ({"history": [3]}, "body.history.0", "valid string (got 3)"),
        ({"history": "i3"}, "body.history", "valid list"),
        ({"history": ["i3"], "where": {"colour": "red"}}, "body.where.colour", "Extra inputs"),
        ({"history": ["i3"], "where": {"brand": {"like": "x"}}}, "body.where.brand", "like"),
        ({"history": ["i3"], "colour": "red"}, "body.colour", "Extra inputs"),
        ({"history": ["i3"], "candidates": ["i1", "x9"]}, "", "candidates: 1 id(s) not in the catalog: 'x9'"),
        ({"history": ["i3"], "on_unknown": "ignore"}, "body.on_unknown", "'error' or 'skip'"),
        ({"history": ["i3"], "exclude_history": "yes"}, "body.exclude_history", "valid boolean"),
        ({"history": ["zz"], "on_unknown": "skip"}, "", "holds no item of the catalog"),
    ],
)
def test_bad_requests_are_422_naming_the_field_and_value(sasrec, body, field, named):
    reply = sasrec[1].post("/recommend", json=body)
    assert reply.status_code == 422
    detail = reply.json()["detail"]
    assert named in detail and detail.startswith(field)
    if field:
        assert reply.json()["errors"][0]["field"].startswith(field)


def test_bodies_too_large_or_not_json_and_unknown_items_are_4xx(sasrec):
    client = sasrec[1]
    big = json.dumps({"history": ["i3"] * 300_000}).encode()
    reply = client.post("/recommend", content=big, headers={"content-type": "application/json"})
    assert reply.status_code == 413 and "over 1,048,576 bytes" in reply.json()["detail"]
    chunks = iter([b'{"history": ["i3"', b', "i4"' * 200_000, b"]}"])  # streamed: no Content-Length
    reply = client.post("/recommend", content=chunks, headers={"content-type": "application/json"})
    assert reply.status_code == 413
    reply = client.post("/recommend", content=b'{"history": [', headers={"content-type": "application/json"})
    assert reply.status_code == 422 and reply.json()["detail"].startswith("body: not valid JSON")
    reply = client.post("/recommend", content=b'{"history": ["i3"]}', headers={"content-type": "text/plain"})
    assert reply.status_code == 422 and "Content-Type: application/json" in reply.json()["detail"]
    lone_surrogate = b'{"history": ["i3", "\\ud800"], "on_unknown": "skip"}'  # not text: refused
    reply = client.post("/recommend", content=lone_surrogate, headers={"content-type": "application/json"})
    assert reply.status_code == 422 and reply.json()["errors"][0]["field"] == "body.history.1"
    assert client.get("/items/%ED%A0%80").status_code == 404  # not UTF-8 in the path
    assert client.get("/items/nope").status_code == 404 and "'nope'" in client.get("/items/nope").text
    assert client.get("/items", params={"q": ""}).status_code == 422
    assert client.get("/items", params={"q": "item", "limit": 0}).status_code == 422
    assert client.post("/recommend/batch", json={"histories": [["i3"], []]}).status_code == 422
    reply = client.post("/items", json={"items": [{"item": "n1", "title": "new"}]})
    assert reply.status_code == 422 and "learns one vector per item id" in reply.json()["detail"]


def test_search_items_facets_health_and_the_page(sasrec):
    rec, client = sasrec
    found = client.get("/items", params={"q": "item 1", "limit": 5}).json()["items"]
    assert [i["title"] for i in found] == ["item 1", "item 10", "item 11", "item 12", "item 13"]
    assert client.get("/items", params={"q": "ITEM 27"}).json()["items"] == [rec.item("i27")]
    assert client.get("/items/i7").json() == rec.item("i7")
    facets = client.get("/facets").json()
    assert facets["brand"] == [{"value": f"brand {n}", "count": c} for n, c in ((0, 10), (1, 10), (2, 10))]
    assert {"value": "A", "count": 30} in facets["categories"]
    health = client.get("/health").json()
    assert health["model"] == "sasrec" and health["n_items"] == 30 and not health["takes_new_items"]
    assert health["batching"]["enabled"] and health["uptime_s"] > 0
    page = client.get("/")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    script = client.get("/static/app.js")
    assert 'src="/static/app.js"' in page.text and script.status_code == 200
    assert not any(web in text for text in (page.text, script.text) for web in ("http://", "https://"))
    assert {"/recommend", "/recommend/batch", "/items", "/items/{item_id}", "/health"} <= set(
        client.get("/openapi.json").json()["paths"]
    )


@pytest.mark.parametrize("batching", [True, False])
def test_concurrent_requests_each_get_their_own_answer(runs, batching):
    rec = laserrec.load(runs / "sasrec")
    bodies = [
        {"history": [f"i{1 + n % 30}", f"i{1 + (n * 7) % 30}"], "k": 1 + n % 6, "exclude_history": n % 2 == 0}
        for n in range(24)
    ]
    bodies[5] = {"history": ["i3", "gone"]}  # a bad request among them fails alone
    app = create_app(rec, batching=batching, batch_max=64, batch_wait_ms=100)

    async def fire(url):
        async with httpx.AsyncClient(base_url=url) as client:
            return await asyncio.gather(*(client.post("/recommend", json=b) for b in bodies))

    with live_server(app) as url:
        replies = asyncio.run(fire(url))
        stats = httpx.get(f"{url}/health").json()["batching"]
    for body, reply in zip(bodies, replies, strict=True):
        if body["history"][-1] == "gone":
            assert reply.status_code == 422 and "'gone'" in reply.json()["detail"]
            continue
        expected = list(rec.recommend(body["history"], body["k"], exclude_history=body["exclude_history"]))
        got = reply.json()["items"]
        assert reply.status_code == 200 and [{**g, "score": 0} for g in got] == [
            {**e, "score": 0} for e in expected
        ]
        # one user scored alone or in a batch: the same ranking, scores equal up to float rounding
        assert [g["score"] for g in got] == pytest.approx([e["score"] for e in expected], abs=2e-6)
    if batching:  # two option groups (exclude_history or not): far fewer model calls than requests
        assert stats["requests"] == 23 and stats["calls"] < 12
    else:
        assert stats["calls"] == 0


def test_added_items_need_the_token_persist_and_survive_a_restart(runs, tmp_path):
    run_dir = tmp_path / "laser"
    shutil.copytree(runs / "laser", run_dir)
    new = {"items": [{"item": "n1", "title": "garden hose", "brand": "brand 1", "categories": "B,hoses"}]}
    with (
        live_server(create_app(laserrec.load(run_dir), token="s3cret")) as url,
        httpx.Client(base_url=url) as c,
    ):
        assert c.get("/health").json()["takes_new_items"]
        assert c.post("/items", json=new).status_code == 401
        assert c.post("/items", json=new, headers={"Authorization": "Bearer wrong"}).status_code == 401
        reply = c.post("/items", json=new, headers={"Authorization": "Bearer s3cret"})
        assert reply.status_code == 200 and reply.json() == {"added": ["n1"], "n_items": 31}
        again = c.post("/items", json=new, headers={"Authorization": "Bearer s3cret"})
        assert again.status_code == 422 and "'n1' is already in the catalog" in again.json()["detail"]
        top = c.post("/recommend", json={"history": ["i5", "n1"], "k": 31}).json()["items"]
        assert "n1" in [i["id"] for i in top] and c.get("/items/n1").json()["title"] == "garden hose"
        assert c.get("/items", params={"q": "garden"}).json()["items"][0]["id"] == "n1"
        several = [{"item": f"m{n}", "title": f"watering can {n}"} for n in range(5)]  # 3 model steps
        reply = c.post("/items", json={"items": several}, headers={"Authorization": "Bearer s3cret"})
        assert reply.json() == {"added": ["m0", "m1", "m2", "m3", "m4"], "n_items": 36}
        served = c.post("/recommend", json={"history": ["i5", "m2"], "k": 36}).json()["items"]
    restarted = laserrec.load(run_dir)
    assert restarted.n_items == 36 and restarted.item("n1")["categories"] == "B,hoses"
    assert [i["id"] for i in restarted.recommend(["i5", "m2"], k=36)] == [i["id"] for i in served]
    alone = tmp_path / "alone"  # the same items added by the library in one call: the same scores
    shutil.copytree(runs / "laser", alone)
    library = laserrec.load(alone)
    library.add_items(new["items"] + several)
    expected = {i["id"]: i["score"] for i in library.recommend(["i5", "m2"], k=36)}
    assert {i["id"]: i["score"] for i in served} == pytest.approx(expected, abs=1e-5)


def test_a_kill_during_writes_loses_no_acknowledged_item_and_leaves_no_partial_one(runs, tmp_path):
    """Twice: ``laserrec serve`` killed (SIGKILL) while items stream in, then started again: every item
    it acknowledged is there, whole (its text, a vector that ranks), and at most the one in flight more."""
    run_dir = tmp_path / "laser"
    shutil.copytree(runs / "laser", run_dir)
    acknowledged = []
    for delay in (0.037, 0.011):  # most likely inside the next write (its encoding, or the index's files)
        with _service(run_dir) as (url, server):
            _check_whole(url, acknowledged)
            writer = threading.Thread(target=_write, args=(url, acknowledged), daemon=True)
            writer.start()
            start = len(acknowledged)
            while len(acknowledged) < start + 3:
                time.sleep(0.01)
            time.sleep(delay)
            server.send_signal(signal.SIGKILL)
            writer.join(10)
    with _service(run_dir) as (url, _):
        _check_whole(url, acknowledged)


def _write(url: str, acknowledged: list[str]) -> None:
    """Add one item at a time (ids n0, n1, ... on from the acknowledged ones) until the server is gone."""
    with httpx.Client(base_url=url, timeout=10) as client:
        while True:
            n = len(acknowledged)
            try:
                reply = client.post("/items", json={"items": [{"item": f"n{n}", "title": f"new thing {n}"}]})
            except httpx.HTTPError:
                return
            assert reply.status_code == 200, reply.text
            acknowledged.append(f"n{n}")


def _check_whole(url: str, acknowledged: list[str]) -> None:
    """Every acknowledged item, and the one in flight if it is there, whole: text, and ranked."""
    n_items = httpx.get(f"{url}/health").json()["n_items"]
    assert n_items in (30 + len(acknowledged), 31 + len(acknowledged))
    held = acknowledged + ([f"n{len(acknowledged)}"] if n_items > 30 + len(acknowledged) else [])
    for item in held:
        reply = httpx.get(f"{url}/items/{item}")
        assert reply.status_code == 200 and reply.json()["title"] == f"new thing {item[1:]}"
    ranked = httpx.post(f"{url}/recommend", json={"history": ["i3", *held[-3:]], "k": n_items}).json()
    assert ranked["qualified"] == len(ranked["items"]) == n_items
    assert set(held) <= {i["id"] for i in ranked["items"]}
    if len(held) > len(acknowledged):  # the one in flight is there, whole: from now on it must stay
        acknowledged.append(held[-1])


@contextlib.contextmanager
def _service(run_dir: Path):
    """``laserrec serve RUN`` as a subprocess on a free port; yields its URL and the process."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(laserrec.__file__).parents[1])}
    command = [sys.executable, "-m", "laserrec", "serve", str(run_dir), "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(f"http://127.0.0.1:{port}", server)
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.kill()
        server.wait()


def _wait_for(url: str, server: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "laserrec serve exited"
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"laserrec serve did not answer on {url}")


def test_binding_beyond_loopback_is_explicit_and_warned(runs, monkeypatch, caplog):
    import uvicorn

    bound = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **_: bound.append((host, port)))
    rec = laserrec.load(runs / "sasrec")
    with caplog.at_level(logging.WARNING, logger="laserrec.serve"):
        serve_module.serve(rec)
        assert bound[-1] == ("127.0.0.1", 8000) and not caplog.records
        serve_module.serve(rec, host="0.0.0.0", port=9000)
    assert bound[-1] == ("0.0.0.0", 9000)
    assert "reachable from other machines" in caplog.text and "no --token" in caplog.text
