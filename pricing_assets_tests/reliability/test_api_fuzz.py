"""Schemathesis against the running API's own OpenAPI spec: generated requests, valid and invalid.

Valid requests (positive mode) go to the promoted stockcodes and to any stockcode the spec
allows; invalid ones (negative mode) break the spec on purpose. Every response must be no 5xx,
have a documented status code, content type and body schema, and invalid input must be
rejected with a 4xx. Afterwards the store's bytes are unchanged and the server logged no
traceback.

One built-in check is left out: ``positive_data_acceptance`` expects every schema-valid request
to succeed, but the API has rules across parameters that OpenAPI cannot state (min below max,
a range wide enough for the bins), which it rejects with a documented 422.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from ..serving.conftest import api_process
from .support import promoted_codes, snapshot, store_root

pytestmark = [pytest.mark.slow, pytest.mark.reliability]
FUZZ = settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
# Invalid requests may also be too big (a generated query can repeat a parameter hundreds of
# times): the request limits' documented 413/414/431 are rejections too.
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "414", "415", "422", "428", "429", "431"]
FUZZ_CONFIG = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}}})


@pytest.fixture(scope="module")
def api(promoted_project):
    with api_process(promoted_project) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=FUZZ_CONFIG)
        yield promoted_project, server, schema


def cases(schema, mode: GenerationMode, codes: list[str]) -> st.SearchStrategy:
    """Every operation; those with a stockcode also with the promoted ones, so real curves get computed."""
    strategies = []
    for result in schema.get_all_operations():
        operation = result.ok()
        strategies.append(operation.as_strategy(generation_mode=mode))
        if "{stockcode}" in operation.path and mode is GenerationMode.POSITIVE:
            strategies.append(
                st.sampled_from(codes).flatmap(
                    lambda code, op=operation: op.as_strategy(generation_mode=mode, path_parameters={"stockcode": code})
                )
            )
    return st.one_of(strategies)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_generated_requests_get_documented_answers_and_change_nothing(api, mode):
    project, server, schema = api
    before = snapshot(store_root(project))
    statuses: dict[int, int] = {}

    @FUZZ
    @given(case=cases(schema, mode, promoted_codes(project)))
    def fuzz(case):
        response = case.call_and_validate(base_url=server.url, excluded_checks=[positive_data_acceptance])
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    fuzz()
    print(f"{mode.value}: responses by status {dict(sorted(statuses.items()))}")
    assert snapshot(store_root(project)) == before
    assert "Traceback" not in server.log()
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert not any(status >= 500 for status in statuses)
    if mode is GenerationMode.POSITIVE:
        assert statuses.get(200, 0) > 0  # real curves were computed, not only rejections
    else:
        assert statuses.get(422, 0) > 0
