"""The list-price recommendation through the API: made again per request for an objective, guardrail,
unit cost or gain confidence from the inputs the bundle keeps; bundles promoted before the weekly demand
models; the example answer."""

import json
import re
import shutil

import httpx
import pandas as pd
import pytest

from pricing_assets.core.bundle import read_bundle
from pricing_assets.core.recommendation_inputs import RecommendationInputs, served_part
from pricing_assets.core.store import LocalArtifactStore, frame_to_parquet
from pricing_assets_tests.conftest import REPO

from ..reliability.support import repromote
from .conftest import api_server

pytestmark = pytest.mark.slow
PATH = "/v1/predict-price/{}"


def store_of(project):
    return LocalArtifactStore(project / ".pricing" / "store")


def bundles_of(project) -> dict:
    store = store_of(project)
    codes = sorted(p.name for p in (project / ".pricing" / "store" / "promoted").iterdir())
    return {code: read_bundle(store, code) for code in codes}


def inputs_of(bundle) -> RecommendationInputs:
    return RecommendationInputs.from_dict(json.loads(bundle.files["recommendation.json"])["inputs"])


@pytest.fixture(scope="module")
def url(promoted_project):
    with api_server(promoted_project) as base:
        yield base


def get(url, code, **params):
    return httpx.get(f"{url}{PATH.format(code)}", params=params, timeout=30)


def test_the_promoted_settings_give_the_promoted_recommendation(promoted_project, url):
    for code, bundle in bundles_of(promoted_project).items():
        config = inputs_of(bundle).config
        answer = get(url, code, objective=config.objective, guardrail=config.guardrail).json()
        assert answer["recommendation_recomputed"] is True
        assert answer["recommendation"] == bundle.manifest["recommendation"]
        assert answer["recommendation"]["gain_confidence"] == config.gain_confidence
        plain = get(url, code).json()  # no parameter: the promoted one, not made again
        assert plain["recommendation"] == bundle.manifest["recommendation"]
        assert plain["recommendation_recomputed"] is False


@pytest.mark.parametrize("objective,guardrail", [("revenue", 0.05), ("margin", 0.5), ("revenue", None), (None, 0.3)])
def test_objective_and_guardrail_make_the_recommendation_again(promoted_project, url, objective, guardrail):
    for code, bundle in bundles_of(promoted_project).items():
        inputs = inputs_of(bundle)
        params = {k: v for k, v in (("objective", objective), ("guardrail", guardrail)) if v is not None}
        answer = get(url, code, **params).json()
        rec = answer["recommendation"]
        assert answer["recommendation_recomputed"] is True
        # Exactly what recommend() gives on the bundle's inputs for these settings.
        assert rec == {"stock_code": code, **served_part(inputs.recommend(objective, guardrail))}
        assert rec["objective"] == (objective or inputs.config.objective)
        share = guardrail or inputs.config.guardrail
        current = rec["current_list_price"]
        low, high = rec["guardrail"]
        assert current * (1 - share) - 0.01 < low <= high < current * (1 + share) + 0.01
        assert low <= rec["best_list_price_in_band"] <= high and low <= rec["recommended_list_price"] <= high
        if rec["objective"] == "margin":
            assert rec["recommended_list_price"] >= rec["unit_cost"] or rec["below_cost"]
        # The curve is the list-price response for the same objective, over a range that holds the guardrail.
        assert answer["curve_source"] == "list_price_response" and answer["objective"] == rec["objective"]
        assert len(answer["curve"]) == 100
        assert answer["curve"][0]["unit_price"] <= low <= high <= answer["curve"][-1]["unit_price"]


def test_unit_cost_reaches_the_recommendation_and_margin_takes_the_bundles_cost(promoted_project, url):
    code, bundle = next(iter(bundles_of(promoted_project).items()))
    promoted = bundle.manifest["recommendation"]
    margin = get(url, code, objective="margin").json()  # no unit_cost: the one the recommendation used
    assert margin["unit_cost"] == promoted["unit_cost"]
    # Weekly margin: the revenue of every kind of line at what it pays, less the cost of every unit.
    bundle_cost = promoted["unit_cost"]
    assert all(p["margin"] == pytest.approx(p["sales"] - bundle_cost * p["quantity"]) for p in margin["curve"])
    assert margin["recommendation"]["unit_cost"] == promoted["unit_cost"]
    assert margin["recommendation"]["cost_assumed"] == promoted["cost_assumed"]
    cost = round(promoted["current_list_price"] * 0.3, 2)
    given = get(url, code, unit_cost=cost).json()
    assert given["recommendation_recomputed"] is True
    assert given["recommendation"]["unit_cost"] == cost and given["recommendation"]["cost_assumed"] is False
    assert given["recommendation"] == {"stock_code": code, **served_part(inputs_of(bundle).recommend(unit_cost=cost))}
    assert given["unit_cost"] == cost
    assert all(p["margin"] == pytest.approx(p["sales"] - cost * p["quantity"]) for p in given["curve"])


def test_gain_confidence_makes_the_recommendation_again(promoted_project, url):
    """``gain_confidence`` (PRICING_GAIN_CONFIDENCE per request): the answer is ``recommend`` on the bundle's
    inputs at that confidence, a hold says the interval it was judged on, and each confidence is cached apart."""
    for code, bundle in bundles_of(promoted_project).items():
        inputs = inputs_of(bundle)
        for confidence in (0.5, 0.8):
            first = get(url, code, gain_confidence=confidence, num_price_bins=9)
            answer = first.json()
            assert first.headers["x-cache"] == "miss" and answer["recommendation_recomputed"] is True
            rec = answer["recommendation"]
            assert rec == {"stock_code": code, **served_part(inputs.recommend(gain_confidence=confidence))}
            assert rec["gain_confidence"] == confidence  # the answer says what it was judged on
            if rec["hold"]:
                assert "95 %" not in rec["hold_reason"], rec["hold_reason"]


@pytest.mark.parametrize(
    "parameter,value",
    [("guardrail", v) for v in ("0", "-0.1", "0.51", "1", "wide", "nan")]
    + [("gain_confidence", v) for v in ("0.4", "1", "0.9995", "sure", "nan")],
)
def test_a_decision_parameter_out_of_bounds_is_a_422_that_names_it(promoted_project, url, parameter, value):
    code = next(iter(bundles_of(promoted_project)))
    response = get(url, code, **{parameter: value})
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["query", parameter] and problem["msg"]


def test_the_cache_key_holds_objective_guardrail_and_unit_cost(promoted_project, url):
    code = next(iter(bundles_of(promoted_project)))
    seen = {}
    for params in (
        {"guardrail": 0.11},
        {"guardrail": 0.22},
        {"objective": "revenue", "guardrail": 0.11},
        {"unit_cost": 0.1},
    ):
        first = get(url, code, num_price_bins=17, **params)
        again = get(url, code, num_price_bins=17, **params)
        assert (first.headers["x-cache"], again.headers["x-cache"]) == ("miss", "hit"), params
        assert again.json()["recommendation"] == first.json()["recommendation"]
        seen[json.dumps(params)] = first.json()["recommendation"]
    assert seen['{"guardrail": 0.11}']["guardrail"] != seen['{"guardrail": 0.22}']["guardrail"]
    assert seen['{"objective": "revenue", "guardrail": 0.11}']["objective"] == "revenue"


def test_bundles_promoted_before_the_weekly_models_say_what_they_lack(promoted_project, tmp_path):
    """Without the recommendation's inputs there is no curve of either kind (a 422 that says why); with the
    inputs but a per-line scenario (no week to forecast) the list-price response still answers, a
    demand-model curve does not."""
    project = tmp_path / "project"
    shutil.copytree(promoted_project / ".pricing" / "store", project / ".pricing" / "store")
    store = store_of(project)
    code = sorted(bundles_of(project))[0]

    def without_inputs(files, manifest):
        stored = json.loads(files["recommendation.json"])
        del stored["inputs"]
        files["recommendation.json"] = json.dumps(stored).encode()

    def without_recommendation(files, manifest):
        del files["recommendation.json"], manifest["recommendation"]

    def per_line_scenario(files, manifest):
        lines = pd.DataFrame({"unit_price": [1.0, 1.2, 1.5], "quantity": [3, 1, 2]})
        files["scenario.parquet"] = frame_to_parquet(lines)

    olds = {"NOINPUT1": without_inputs, "NOREC1": without_recommendation, "LINES1": per_line_scenario}
    for new, change in olds.items():
        repromote(store, code, new, change)
    with api_server(project) as base:
        for source in (None, "list_price_response", "demand_model"):
            params = {"curve_source": source} if source else {}
            no_inputs = get(base, "NOINPUT1", **params)
            assert no_inputs.status_code == 422, no_inputs.text
            assert "promoted before recommendations kept the inputs" in no_inputs.json()["detail"]
            assert "/v1/lineage/NOINPUT1" in no_inputs.json()["detail"]
            old = get(base, "NOREC1", **params)
            assert old.status_code == 422 and "before list-price recommendations existed" in old.json()["detail"]
        lineage = httpx.get(f"{base}/v1/lineage/NOINPUT1").json()  # what it holds is still there
        assert lineage["recommendation"] == bundles_of(project)[code].manifest["recommendation"]
        response = get(base, "LINES1")
        assert response.status_code == 200 and response.json()["curve_source"] == "list_price_response"
        model = get(base, "LINES1", curve_source="demand_model")
        assert model.status_code == 422 and "before the weekly demand models" in model.json()["detail"]


def _without_nulls(value):
    """What FastAPI publishes of an example: keys whose value is null are left out."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def test_openapi_and_the_readme_show_a_real_answer_of_todays_shape(promoted_project, url):
    code = next(iter(bundles_of(promoted_project)))
    real = get(url, code, objective="revenue", guardrail=0.1, num_price_bins=3).json()
    example = json.loads((REPO / "serving" / "example_answer.json").read_text())
    assert set(example) == set(real) and set(example["recommendation"]) == set(real["recommendation"])
    assert set(example["curve"][0]) == set(real["curve"][0])
    assert example["recommendation_recomputed"] is True and example["recommendation"]["objective"] == "revenue"
    spec = httpx.get(f"{url}/openapi.json").json()
    assert spec["components"]["schemas"]["PriceAnswer"]["examples"] == [_without_nulls(example)]
    parameters = {p["name"]: p for p in spec["paths"]["/v1/predict-price/{stockcode}"]["get"]["parameters"]}
    guardrail = next(s for s in parameters["guardrail"]["schema"]["anyOf"] if s.get("type") == "number")
    assert guardrail["exclusiveMinimum"] == 0 and guardrail["maximum"] == 0.5
    readme = (REPO / "README.md").read_text()
    shown = re.search(r"on the dev file\n\(floats cut to 4 decimals.*?\n\n```json\n(.*?)```", readme, re.S)
    assert shown and json.loads(shown.group(1)) == example
