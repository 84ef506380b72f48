"""Schemathesis over the service's OpenAPI schema, against a live server of a tiny Laser run (the model that
takes new items, so every route runs): no generated request, valid or not, gives a 5xx, and every answer's
status, content type, headers and body are the ones the schema documents.

Each operation is fuzzed with schema-valid requests (plus the schema's own examples, which name real ids)
and with schema-invalid ones, which must be refused 4xx. Left out: ``positive_data_acceptance`` (a valid
request must succeed): the schema cannot say which raw ids exist or how large the catalog is, so a history
of random ids is rightly refused 422. The tests drive Hypothesis directly rather than through schemathesis'
pytest plugin, whose lazy fixture schemas do not run on pytest 9.
"""

from urllib.parse import unquote

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig

import laserrec
from laserrec.inference.recommender import model_as_saved
from laserrec.inference.serve import create_app
from serve_fixtures import live_server, train_tiny_runs

OPERATIONS = [
    "POST /recommend",
    "POST /recommend/batch",
    "GET /items",
    "GET /items/{item_id}",
    "POST /items",
    "GET /facets",
    "GET /health",
]
# those with input that can break the schema (any string is a valid path id; /health takes nothing)
INVALIDABLE = {"POST /recommend", "POST /recommend/batch", "GET /items", "POST /items", "GET /facets"}
EXAMPLES = 100  # per operation and mode (Hypothesis' default): the file runs in well under a minute


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_llama):
    root = train_tiny_runs(tmp_path_factory.mktemp("fuzzed"), tiny_llama)
    rec = laserrec.load(root / "laser")
    with live_server(create_app(rec)) as url:
        yield rec, url


@pytest.fixture(scope="module")
def server(served):
    return served[1]


@pytest.fixture(scope="module")
def schema(server):
    # How the service refuses a request: 413 too (a body over the size limit), which schemathesis does not
    # count as a refusal by default.
    refusals = {
        "checks": {"negative_data_rejection": {"expected-statuses": ["400", "401", "404", "413", "422"]}}
    }
    return schemathesis.openapi.from_url(
        f"{server}/openapi.json", config=SchemathesisConfig.from_dict(refusals)
    )


def test_every_operation_of_the_schema_is_fuzzed(schema):
    assert sorted(result.ok().label for result in schema.get_all_operations()) == sorted(OPERATIONS)


CASES = [(label, GenerationMode.POSITIVE) for label in OPERATIONS] + [
    (label, GenerationMode.NEGATIVE) for label in OPERATIONS if label in INVALIDABLE
]


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{label} {mode.value}" for label, mode in CASES])
def test_no_request_gives_a_5xx_and_every_answer_fits_the_schema(schema, server, label, mode):
    method, path = label.split(" ")
    operation = schema[path][method]
    strategy = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE:
        strategy = st.one_of(strategy, *operation.get_strategies_from_examples())

    statuses = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def check(case):
        response = case.call_and_validate(base_url=server, excluded_checks=[positive_data_acceptance])
        statuses.append(response.status_code)

    check()
    if mode is GenerationMode.POSITIVE:  # the examples reach the success path, not only refusals
        assert 200 in statuses, sorted(set(statuses))


# ---------------------------------------------------------------- linked data: the catalog's own ids and text
FIELDS = ("title", "brand", "categories")


@st.composite
def options_from(draw, catalog: dict[str, dict]) -> dict:
    """Recommend options built from a catalog ``{id: text}``: candidates and exclusions of its ids (empty,
    or all excluded, as often as not), filters on its values, on parts of them and on text no item has."""
    ids = sorted(catalog)
    some = st.lists(st.sampled_from(ids), max_size=4)
    body = {"k": draw(st.integers(1, len(ids))), "exclude_history": draw(st.booleans())}
    if draw(st.booleans()):
        body["candidates"] = draw(some)
    if draw(st.booleans()):
        body["exclude"] = draw(st.one_of(some, st.just(body.get("candidates", []))))
    where = {}
    for name in FIELDS:
        text = catalog[draw(st.sampled_from(ids))][name]
        value = draw(st.sampled_from([p.strip() for p in text.split(",")])) if name == "categories" else text
        start = draw(st.integers(0, len(text)))
        choice = draw(
            st.sampled_from(
                [
                    None,
                    value.upper(),
                    {"contains": text[start : start + 3]},
                    "no such " + name,
                    {"contains": "~~"},
                ]
            )
        )
        if choice is not None:
            where[name] = choice
    return {**body, "where": where} if where else body


def qualifying(catalog: dict[str, dict], history: list[str], options: dict) -> set[str]:
    """The ids these options leave, worked out from the documented rules alone."""
    left = set(options.get("candidates", catalog)) - set(options.get("exclude", []))
    if options["exclude_history"]:
        left -= set(history)
    for name, condition in options.get("where", {}).items():
        for item in list(left):
            text = catalog[item][name].strip().lower()
            if isinstance(condition, dict):
                keep = condition["contains"].strip().lower() in text
            elif name == "categories":
                keep = condition.strip().lower() in {p.strip() for p in text.split(",")}
            else:
                keep = condition.strip().lower() == text
            if not keep:
                left.discard(item)
    return left


def test_options_from_the_catalog_that_leave_few_or_no_items_are_200s_with_those(schema, served):
    rec, server = served
    catalog = {raw: rec.index.texts[row] for raw, row in rec.index.position.items()}
    ids = sorted(catalog)
    one, many = schema["/recommend"]["POST"], schema["/recommend/batch"]["POST"]
    counts = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        options=options_from(catalog),
        histories=st.lists(st.lists(st.sampled_from(ids), min_size=1, max_size=4), min_size=1, max_size=3),
    )
    def check(options, histories):
        for operation, body in ((one, {"history": histories[0]}), (many, {"histories": histories})):
            response = operation.Case(body={**body, **options}).call_and_validate(base_url=server)
            assert response.status_code == 200, response.text
            answers = response.json()["results"] if operation is many else [response.json()]
            for history, answer in zip(histories[: len(answers)], answers, strict=True):
                left = qualifying(catalog, history, options)
                assert answer["qualified"] == len(left), (history, options)
                assert len(answer["items"]) == min(options["k"], len(left))
                assert {i["id"] for i in answer["items"]} <= left
                counts.append(len(left))

    check()
    assert 0 in counts and any(0 < n < 5 for n in counts)  # the cases at stake were reached


def test_linked_requests_reach_what_earlier_answers_made(schema, served):
    """Schemathesis' stateful tests along the schema's links: an added item's text (any id that was
    stored can be fetched, "/" included), the recommendations after it or after a ranked item."""
    rec, server = served
    start, added, fetched = rec.index, set(), []

    class Linked(schema.as_state_machine()):
        def setup(self):
            # Hypothesis replays a scenario to shrink it, and needs the same answers each time: each one
            # starts from the catalog as this test found it, without what earlier scenarios added.
            rec.index = start
            rec.net = model_as_saved(rec.run_dir, start, rec.device)
            added.clear()

        def get_call_kwargs(self, case):
            return {"base_url": server}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, excluded_checks=[positive_data_acceptance])
            if case.operation.label == "POST /items" and response.status_code == 200:
                added.update(response.json()["added"])
            item = unquote(case.path_parameters.get("item_id", ""))  # as schemathesis sent it: encoded
            if case.operation.label == "GET /items/{item_id}" and item in added:
                assert response.status_code == 200, (item, response.text)
                fetched.append(item)

    Linked.run(
        settings=settings(
            max_examples=EXAMPLES, stateful_step_count=6, deadline=None, database=None,
            suppress_health_check=list(HealthCheck),
        )
    )  # fmt: skip
    assert fetched, "no added item was fetched along a link"
