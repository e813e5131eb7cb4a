"""The curve of an answer is over list prices: the list-price response (it peaks at the best price in the
band, and the recommended move stops there or short of it, where its gain is surest) or, asked for, a
demand model's forecast of next week moved along the same response; units fall as the list price rises
whichever it is, and the answer says which curve it is."""

import shutil

import httpx
import numpy as np
import pytest

from pricing_assets.core import pricing
from pricing_assets.core.bundle import read_bundle
from serving.registry import BundleRegistry

from ..reliability.support import local_store, make_champion, repromote
from .conftest import api_server, elastic_copy

pytestmark = pytest.mark.slow
PATH = "/v1/predict-price/{}"


@pytest.fixture(scope="module")
def elastic(promoted_project, tmp_path_factory):
    bundle = elastic_copy(promoted_project, tmp_path_factory.mktemp("elastic"))
    with api_server(bundle.project) as url:
        yield bundle, url


def get(url, code, **params) -> dict:
    response = httpx.get(f"{url}{PATH.format(code)}", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_move_that_is_neither_held_nor_capped_stops_at_or_just_short_of_the_curves_peak(elastic):
    bundle, url = elastic
    asked = {"objective": "margin", "unit_cost": bundle.unit_cost, "guardrail": 0.15}
    answer = get(url, bundle.code, **asked)
    rec = answer["recommendation"]
    assert answer["curve_source"] == "list_price_response" and answer["recommendation_recomputed"]
    assert (rec["hold"], rec["capped"], rec["action"]) == (False, False, "increase"), rec
    # Over the guardrail in whole pence (the prices the recommendation chose from): the curve peaks at the
    # best price in the band; the move goes that way and, the response being well measured (SE 0.05),
    # stops within a few pence of it, where the gain every plausible elasticity agrees on is largest.
    low, high = rec["guardrail"]
    pence = round((high - low) * 100) + 1
    band = get(url, bundle.code, **asked, unitprice_min=low, unitprice_max=high, num_price_bins=pence)
    margins = [p["margin"] for p in band["curve"]]
    peak = band["curve"][int(np.argmax(margins))]["unit_price"]
    assert peak == pytest.approx(rec["best_list_price_in_band"], abs=1e-9)
    assert band["optimal_price"] == pytest.approx(rec["best_list_price_in_band"], abs=1e-9)
    assert not band["optimum_on_edge"]
    assert rec["current_list_price"] < rec["recommended_list_price"] <= peak
    assert peak - rec["recommended_list_price"] <= 0.03 * peak
    # Over the default range (100 bins, wider than the guardrail): the peak is within one bin of the best.
    wide = get(url, bundle.code, **asked)["curve"]
    step = wide[1]["unit_price"] - wide[0]["unit_price"]
    assert wide[0]["unit_price"] < low and high < wide[-1]["unit_price"]
    assert abs(answer["optimal_price"] - rec["best_list_price_in_band"]) <= step
    # The expected change the recommendation states is the curve's, from the current price to the recommended.
    at = {round(p["unit_price"], 2): p for p in band["curve"]}
    current, best = at[round(rec["current_list_price"], 2)], at[round(rec["recommended_list_price"], 2)]
    for field, name in (("quantity", "units"), ("sales", "revenue"), ("margin", "margin")):
        low_change, high_change = rec["expected_change"][name]["interval"]
        assert low_change <= best[field] - current[field] <= high_change


def test_a_capped_move_stops_at_the_guardrail_while_the_curve_peaks_beyond_it(elastic):
    bundle, url = elastic
    answer = get(url, bundle.code, objective="revenue", guardrail=0.1)  # elastic: revenue wants a lower price
    rec = answer["recommendation"]
    assert (rec["hold"], rec["capped"], rec["action"]) == (False, True, "decrease"), rec
    assert rec["recommended_list_price"] == rec["guardrail"][0]
    # The default range is the list +/- twice the guardrail share: the curve shows where its peak lies.
    current, curve = rec["current_list_price"], answer["curve"]
    assert curve[0]["unit_price"] == pytest.approx(current * 0.8, abs=0.01)
    assert curve[-1]["unit_price"] == pytest.approx(current * 1.2, abs=0.01)
    assert answer["objective"] == "revenue" and answer["optimal_price"] < rec["guardrail"][0] - 0.05 * current
    sales = {round(p["unit_price"], 2): p["sales"] for p in answer["curve"]}
    inside = [s for price, s in sales.items() if rec["guardrail"][0] <= price <= rec["guardrail"][1]]
    assert max(sales.values()) > max(inside)


def test_units_fall_as_the_list_price_rises_and_the_bands_hold_the_estimate(promoted_project, elastic):
    bundle, url = elastic
    codes = sorted(p.name for p in (bundle.project / ".pricing" / "store" / "promoted").iterdir())
    for code in codes:
        for params in ({}, {"objective": "revenue", "guardrail": 0.5, "num_price_bins": 300}):
            answer = get(url, code, **params)
            assert answer["curve_source"] == "list_price_response"
            curve = answer["curve"]
            units = np.array([p["quantity"] for p in curve])
            assert (np.diff(units) < 0).all(), (code, params, units)
            for p in curve:
                for field in ("quantity", "sales", "margin"):
                    assert p[f"{field}_low"] - 1e-9 <= p[field] <= p[f"{field}_high"] + 1e-9, (code, field, p)


def test_every_model_of_the_chain_gives_a_demand_model_curve_whose_units_fall_with_the_list_price(elastic, tmp_path):
    """Each model of the bundle's chain made champion in turn: its forecast of the bundled week, moved along the
    response, is the curve (what pricing.predict_curve gives on the same bundle), and its units fall as the list
    price rises over a wide range; the list-price response of the same bundle does not depend on which model it is."""
    bundle, _ = elastic
    project = tmp_path / "project"
    shutil.copytree(bundle.project / ".pricing" / "store", project / ".pricing" / "store")
    store = local_store(project)
    manifest = read_bundle(store, bundle.code).manifest
    chain = [manifest["champion"], *manifest["fallback_chain"]]
    codes = {kind: f"CHAMP{i}" for i, kind in enumerate(chain)}
    for kind, code in codes.items():
        repromote(store, bundle.code, code, make_champion(kind))
    wide = {"guardrail": 0.5, "num_price_bins": 300, "objective": "revenue"}
    registry = BundleRegistry(store, reload_seconds=0)
    with api_server(project) as url:
        for kind, code in codes.items():
            answer = get(url, code, curve_source="demand_model", **wide)
            assert (answer["model"], answer["fallback_used"], answer["skipped_models"]) == (kind, False, [])
            curve = answer["curve"]
            units = np.array([p["quantity"] for p in curve])
            assert np.isfinite(units).all() and (units > 0).all(), (kind, units)
            assert (np.diff(units) < 0).all(), (kind, units)
            served = registry.get(code)
            prices = np.array([p["unit_price"] for p in curve])
            expected = pricing.predict_curve(
                served._model(kind),
                served.preprocessor,
                served.scenario,
                served.recommendation_inputs,
                served.manifest["models"][chain.index(kind)]["validation_residuals"],
                prices,
            ).curve
            for field in ("quantity", "quantity_low", "quantity_high", "sales", "margin"):
                assert [p[field] for p in curve] == pytest.approx(expected[field].to_list(), rel=1e-9), (kind, field)
            response = get(url, code, **wide)
            assert response["curve"] == get(url, bundle.code, **wide)["curve"]
