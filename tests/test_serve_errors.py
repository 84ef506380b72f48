"""The service under hostile use, through real HTTP against uvicorn on loopback: one kept-alive connection
outlives an error answer of every kind (a fault nobody foresaw included, which is a logged 500), bodies that
are not UTF-8 JSON are 400 naming where, one rule for item ids in ``prepare``, ``add-items`` and
``POST /items`` (and every stored id can be fetched), and the token kept off the command line."""

import http.client
import json
import logging
import shutil

import pytest

import laserrec
from cli_run import run
from laserrec.inference.recommender import LoadedRun
from laserrec.inference.serve import create_app
from serve_fixtures import live_server, train_tiny_runs


class Faulty(LoadedRun):
    """A run with two faults nobody foresaw, on cue: an exception, and a wrong number of answers."""

    def recommend_many(self, histories, k=10, **options):
        cue = (options.get("where") or {}).get("title")
        if cue == "raise":
            raise RuntimeError("a fault nobody foresaw")
        if cue == "too few":
            return []
        return super().recommend_many(histories, k, **options)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_llama):
    return train_tiny_runs(tmp_path_factory.mktemp("hostile"), tiny_llama)


@pytest.fixture(scope="module")
def served(runs):
    """A faulty Laser run (it takes new items) served with a token; yields the run and the port."""
    run_dir = runs.parent / "served-laser"
    shutil.copytree(runs / "laser", run_dir)
    rec = laserrec.load(run_dir)
    rec = Faulty(rec.run_dir, rec.model, rec.net, rec.data, rec.index)
    with live_server(create_app(rec, token="s3cret", batch_wait_ms=2, max_body=4096)) as url:
        yield rec, int(url.rsplit(":", 1)[1])


class Connection:
    """One HTTP/1.1 connection: every request must go over the socket the first one opened."""

    def __init__(self, port: int) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        self.local = None

    def ask(self, method, path, body=None, headers=None) -> tuple[int, dict]:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", **(headers or {})}
        self.http.request(method, path, data, sent)
        reply = self.http.getresponse()
        content = reply.read()
        assert reply.getheader("connection") != "close", (method, path, reply.status)
        local = self.http.sock.getsockname()
        assert self.local in (None, local), "the server closed the connection; the client opened another"
        self.local = local
        return reply.status, json.loads(content) if reply.getheader(
            "content-type"
        ) == "application/json" else {}


def test_one_connection_outlives_every_kind_of_error_answer(served, caplog):
    rec, port = served
    c = Connection(port)

    def check_good_answer() -> None:  # between errors: a plain request, answered as the library answers it
        status, body = c.ask("POST", "/recommend", {"history": ["i3", "i4"], "k": 3})
        expected = rec.recommend(["i3", "i4"], k=3)
        assert status == 200 and [i["id"] for i in body["items"]] == [i["id"] for i in expected]

    deep = b'{"history": ' + b"[" * 100 + b"]" * 100 + b"}"
    errors = [
        (("POST", "/recommend", {"history": ["i3"], "k": 0}), 422, "body.k"),
        (("POST", "/recommend", {"history": ["i3", "nope"]}), 422, "'nope'"),
        (("POST", "/recommend", b'{"history": ['), 422, "not valid JSON"),
        (("POST", "/recommend", '{"history": ["i3"]}'.encode("utf-16")), 400, "not UTF-8"),
        (("POST", "/recommend", deep), 400, "nested more than 64 levels"),
        (("POST", "/recommend", {"history": ["i3"] * 2000}), 413, "over 4,096 bytes"),
        (("GET", "/items/nope", None), 404, "'nope'"),
        (("POST", "/items", {"items": [{"item": "n1", "title": "x"}]}), 401, "Bearer"),
        (("DELETE", "/items", None), 405, "Method Not Allowed"),
        (("POST", "/recommend", {"history": ["i3"], "where": {"title": "raise"}}), 500, "internal error"),
        (("POST", "/recommend/batch", {"histories": [["i3"]], "where": {"title": "raise"}}), 500, "internal"),
        (("POST", "/recommend", {"history": ["i3"], "where": {"title": "too few"}}), 500, "internal error"),
    ]
    check_good_answer()
    with caplog.at_level(logging.ERROR, logger="laserrec.serve"):
        for request, status, named in errors:
            got, body = c.ask(*request)
            assert (got, named in body.get("detail", "")) == (status, True), (request[:2], got, body)
            check_good_answer()
    assert caplog.text.count("unexpected error answering POST /recommend") == 3
    assert "RuntimeError: a fault nobody foresaw" in caplog.text
    status, body = c.ask("POST", "/recommend", {"history": ["i3"], "k": 3, "where": {"title": "nothing"}})
    assert (status, body["items"], body["qualified"]) == (200, [], 0)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ('{"history": ["i3"]}'.encode("utf-16"), "not UTF-8 (byte 0xff at byte 0)"),  # with its BOM
        ('{"history": ["i3"]}'.encode("utf-16-le"), "a NUL byte at byte 1"),  # no BOM: the parser would guess
        ('{"history": ["i3"]}'.encode("utf-32"), "not UTF-8 (byte 0xff at byte 0)"),
        (b'{"history": ["caf\xe9"]}', "not UTF-8 (byte 0xe9 at byte 17)"),  # Latin-1
        (b'{"history": ' + b"[" * 65 + b"]" * 65 + b"}", "nested more than 64 levels deep (at character 75)"),
        (b'{"history": [' + b'"[[[[", ' * 70 + b'"i3"]}', None),  # brackets inside strings do not nest
    ],
    ids=["utf-16", "utf-16-le", "utf-32", "latin-1", "deep", "brackets-in-strings"],
)
def test_bodies_that_are_not_utf8_json_are_400_naming_where(served, body, named):
    status, answer = Connection(served[1]).ask("POST", "/recommend", body)
    if named is None:
        assert status == 422 and "'[[[['" in answer["detail"]  # read, then refused as an unknown id
        return
    assert status == 400 and answer["detail"].startswith(f"body: {named}"), answer
    assert answer["errors"] == [{"field": "body", "message": answer["detail"][len("body: ") :]}]


def test_one_rule_for_item_ids_and_every_stored_id_can_be_fetched(served, runs, tmp_path):
    rec, port = served
    c, token = Connection(port), {"Authorization": "Bearer s3cret"}
    status, body = c.ask("POST", "/items", {"items": [{"item": "shelf/a b", "title": "a shelf"}]}, token)
    assert status == 200 and body["added"] == ["shelf/a b"]
    for path in ("/items/shelf/a%20b", "/items/shelf%2Fa%20b"):  # the slash as is, or encoded
        assert (
            c.ask("GET", path) == (200, rec.item("shelf/a b")) and rec.item("shelf/a b")["title"] == "a shelf"
        )
    for bad, why in [("a\x00b", "U+0000 at character 1"), ("tab\there", "U+0009"), ("x/../y", "'.' or '..'")]:
        status, body = c.ask("POST", "/items", {"items": [{"item": bad, "title": "t"}]}, token)
        assert status == 422 and repr(bad) in body["detail"] and why in body["detail"], body
    (tmp_path / "new.jsonl").write_text(json.dumps({"item": "bell\x07", "title": "a bell"}) + "\n")
    code, message = run("add-items", runs / "laser", "--items", tmp_path / "new.jsonl")
    assert code == 2 and "new.jsonl, line 1: item id 'bell\\x07' holds a control character (U+0007" in message
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "interactions.csv").write_text("user,item,timestamp\nu1,i1,1\nu1,i\x1b2,2\n")
    (raw / "items.jsonl").write_text(json.dumps({"item": "i1", "title": "one"}) + "\n")
    code, message = run("prepare", raw, "--out", tmp_path / "data")
    assert (
        code == 2 and "interactions.csv, line 3: item 'i\\x1b2' holds a control character (U+001B" in message
    )
    assert not (tmp_path / "data").exists()


def test_a_token_on_the_command_line_is_warned_of_and_the_variable_is_not(runs, monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    from laserrec import cli

    tokens = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: tokens.append(app))
    runner = CliRunner()
    loud = runner.invoke(cli.app, ["serve", str(runs / "sasrec"), "--token", "s3cret"])
    quiet = runner.invoke(cli.app, ["serve", str(runs / "sasrec")], env={"LASERREC_TOKEN": "s3cret"})
    assert loud.exit_code == quiet.exit_code == 0 and len(tokens) == 2
    assert "--token on the command line is visible" in loud.stderr and "LASERREC_TOKEN" in loud.stderr
    assert "visible" not in quiet.stderr
