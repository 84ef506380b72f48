"""Schemathesis over the service's OpenAPI schema, against a live server of a tiny Laser run (the model that
takes new items, so every route runs): no generated request, valid or not, gives a 5xx, and every answer's
status, content type, headers and body are the ones the schema documents.

Each operation is fuzzed with schema-valid requests (plus the schema's own examples, which name real ids)
and with schema-invalid ones, which must be refused 4xx. Left out: ``positive_data_acceptance`` (a valid
request must succeed): the schema cannot say which raw ids exist or how large the catalog is, so a history
of random ids is rightly refused 422. The tests drive Hypothesis directly rather than through schemathesis'
pytest plugin, whose lazy fixture schemas do not run on pytest 9.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig

import laserrec
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
def server(tmp_path_factory, tiny_llama):
    root = train_tiny_runs(tmp_path_factory.mktemp("fuzzed"), tiny_llama)
    with live_server(create_app(laserrec.load(root / "laser"))) as url:
        yield url


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
