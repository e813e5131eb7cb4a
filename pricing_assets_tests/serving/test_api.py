"""The serving API over real HTTP on 127.0.0.1, on bundles made by a real `pricing run`."""

import json
import shutil
import subprocess
import sys

import httpx
import pytest
import redis

from pricing_assets.core.bundle import read_pointer
from pricing_assets.core.store import LocalArtifactStore

from ..reliability.support import redis_process, start_private_redis
from .conftest import api_server, run_pricing

pytestmark = pytest.mark.slow


def store_of(project):
    return LocalArtifactStore(project / ".pricing" / "store")


def codes_of(project) -> list[str]:
    return sorted(p.name for p in (project / ".pricing" / "store" / "promoted").iterdir())


@pytest.fixture(scope="module")
def url(promoted_project):
    """One API process for the read-only tests."""
    with api_server(promoted_project) as base:
        yield base


def test_prices_lineage_and_listing(promoted_project, url):
    codes = codes_of(promoted_project)
    listing = httpx.get(f"{url}/v1/stockcodes").json()
    assert listing["stockcodes"] == codes
    code = codes[0]
    answer = httpx.get(f"{url}/v1/predict-price/{code}").json()
    pointer = read_pointer(store_of(promoted_project), code)
    manifest = httpx.get(f"{url}/v1/lineage/{code}").json()
    assert answer["model_version"] == pointer["version"] == manifest["version"] == answer["lineage_id"]
    # The bundle keeps its recommendation's inputs: the curve is the list-price response, no model runs.
    assert answer["curve_source"] == "list_price_response" and answer["model"] is None and not answer["fallback_used"]
    curve = answer["curve"]
    assert len(curve) == 100  # default bins over the list +/- twice the guardrail share
    current, (low, high) = manifest["recommendation"]["current_list_price"], manifest["recommendation"]["guardrail"]
    assert curve[0]["unit_price"] < low <= high < curve[-1]["unit_price"]
    assert curve[0]["unit_price"] == pytest.approx(current * 0.7, abs=0.01)  # the default guardrail is 0.15
    assert curve[-1]["unit_price"] == pytest.approx(current * 1.3, abs=0.01)
    best = max(curve, key=lambda p: p[answer["objective"].replace("revenue", "sales")])
    assert answer["optimal_price"] == pytest.approx(best["unit_price"])
    # The demand model's curve when asked for: the champion forecasts the bundled week again, and that is the
    # forecast the recommendation was promoted with, so the curve is the list-price response's, point for point.
    model = httpx.get(f"{url}/v1/predict-price/{code}", params={"curve_source": "demand_model"}).json()
    assert model["curve_source"] == "demand_model" and model["objective"] == answer["objective"]
    assert model["model"] == manifest["champion"] and not model["fallback_used"] and model["skipped_models"] == []
    assert model["unit_cost"] == answer["unit_cost"] == manifest["recommendation"]["unit_cost"]
    assert [p["unit_price"] for p in model["curve"]] == [p["unit_price"] for p in curve]
    for again, promoted in zip(model["curve"], curve, strict=True):
        assert again == pytest.approx(promoted, rel=1e-6), (again, promoted)
    assert model["optimal_price"] == answer["optimal_price"]
    # The list-price recommendation promoted with the bundle comes with every answer, as the manifest has it.
    recommendation = answer["recommendation"]
    assert recommendation == manifest["recommendation"] and recommendation["stock_code"] == code
    assert recommendation["action"] in ("increase", "decrease", "hold")
    assert all(p["quantity_low"] <= p["quantity"] <= p["quantity_high"] for p in curve)
    narrow = httpx.get(
        f"{url}/v1/predict-price/{code}", params={"unitprice_min": 1, "unitprice_max": 2, "num_price_bins": 11}
    )
    assert [p["unit_price"] for p in narrow.json()["curve"]] == pytest.approx([1 + i / 10 for i in range(11)])
    assert set(manifest["upstream"]) >= {"raw_transactions", "weekly_features", "dfn_model", "fairness_report"}
    spec = httpx.get(f"{url}/openapi.json").json()
    assert {"/v1/predict-price/{stockcode}", "/v1/lineage/{stockcode}", "/v1/stockcodes"} <= set(spec["paths"])
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{url}/readyz").json()
    assert ready["store"] == "ok" and ready["promoted"] == len(codes) and ready["cache"] == "memory"


def test_margin_objective_moves_the_optimum_up(promoted_project, url):
    code = codes_of(promoted_project)[0]
    model = {"num_price_bins": 200, "curve_source": "demand_model"}
    revenue = httpx.get(f"{url}/v1/predict-price/{code}", params=model | {"objective": "revenue"}).json()
    cost = revenue["curve"][0]["unit_price"] * 0.5
    asked = model | {"objective": "margin", "unit_cost": cost}
    margin = httpx.get(f"{url}/v1/predict-price/{code}", params=asked).json()
    assert margin["unit_cost"] == cost and margin["objective"] == "margin"
    assert margin["optimal_price"] >= revenue["optimal_price"]
    # Weekly margin: every kind of line's revenue at what it pays, less the cost of every unit.
    assert all(p["margin"] == pytest.approx(p["sales"] - cost * p["quantity"]) for p in margin["curve"])
    assert margin["optimal_value"] == max(p["margin"] for p in margin["curve"])


@pytest.mark.parametrize(
    "path,params,status,message",
    [
        ("{code}", {"unitprice_min": 5, "unitprice_max": 2}, 422, "unitprice_min (5.0) must be below unitprice_max"),
        ("{code}", {"num_price_bins": 5000}, 422, "num_price_bins"),
        ("{code}", {"num_price_bins": 1}, 422, "num_price_bins"),
        ("{code}", {"unitprice_min": -1}, 422, "unitprice_min"),
        ("{code}", {"guardrail": 0.7}, 422, "guardrail"),
        ("{code}", {"unit_cost": 0}, 422, "unit_cost"),
        ("{code}", {"objective": "volume"}, 422, "objective"),
        ("{code}", {"curve_source": "guess"}, 422, "curve_source"),
        ("99999Z", {}, 404, "no promoted model"),
        ("bad%20code", {}, 422, "invalid stockcode"),
        ("A" * 70, {}, 422, "stockcode"),
        ("%C3%A9t%C3%A9", {}, 422, "invalid stockcode"),
    ],
)
def test_bad_requests_get_a_4xx_that_names_the_problem(promoted_project, url, path, params, status, message):
    code = codes_of(promoted_project)[0]
    response = httpx.get(f"{url}/v1/predict-price/{path.format(code=code)}", params=params)
    assert response.status_code == status
    assert message in json.dumps(response.json())


PREDICT_TAKES = "takes only curve_source, gain_confidence, guardrail, num_price_bins, objective, unit_cost, "


@pytest.mark.parametrize(
    "path,query,message",
    [
        # A misspelt parameter would have answered with the promoted guardrail, a repeated one with its last value.
        ("/v1/predict-price/{code}", "guardrial=0.1", "unknown query parameter(s) ['guardrial']: "),
        ("/v1/predict-price/{code}", "guardrial=0.1", PREDICT_TAKES),
        ("/v1/predict-price/{code}", "guardrail=0.1&guardrail=0.5", "['guardrail'] given more than once"),
        ("/v1/predict-price/{code}", "objective=revenue&objective=margin", "['objective'] given more than once"),
        ("/v1/lineage/{code}", "version=1", "['version']: /v1/lineage/{stockcode} takes no query parameters"),
        ("/v1/stockcodes", "ofset=5", "['ofset']: /v1/stockcodes takes only limit, offset, prefix"),
        # What pydantic's lax parsing would read as 1000 or 10: the schema says an integer, in digits.
        ("/v1/predict-price/{code}", "num_price_bins=1_000", "whole number written in digits"),
        ("/v1/predict-price/{code}", "num_price_bins=%2B10", "whole number written in digits"),
        ("/v1/predict-price/{code}", "num_price_bins=%2010", "whole number written in digits"),
        ("/v1/predict-price/{code}", "num_price_bins=10.0", "whole number written in digits"),
    ],
)
def test_query_parameters_are_taken_once_each_and_only_as_the_route_names_them(
    promoted_project, url, path, query, message
):
    code = codes_of(promoted_project)[0]
    response = httpx.get(f"{url}{path.format(code=code)}?{query}")
    assert response.status_code == 422
    assert message in response.text, response.text


def test_the_page_still_takes_its_own_query_string(promoted_project, url):
    """The page is no API route: its link carries the stockcode and the controls, which its script reads."""
    code = codes_of(promoted_project)[0]
    page = httpx.get(f"{url}/", params={"stockcode": code, "objective": "margin", "guardrail": "0.1"})
    assert page.status_code == 200 and "<title>pricing lineage" in page.text
    assert httpx.get(f"{url}/v1/predict-price/{code}", params={"num_price_bins": "10"}).status_code == 200


def test_redis_cache_hits_misses_and_a_new_promotion(promoted_project, tmp_path):
    """On a private redis-server: the key count is this test's alone, and nobody else's Redis is flushed."""
    project = tmp_path / "project"
    shutil.copytree(promoted_project, project)
    code = codes_of(project)[0]
    with redis_process(tmp_path) as redis_url, api_server(project, REDIS_URL=redis_url) as url:
        client = redis.Redis.from_url(redis_url)
        first = httpx.get(f"{url}/v1/predict-price/{code}", params={"num_price_bins": 20})
        second = httpx.get(f"{url}/v1/predict-price/{code}", params={"num_price_bins": 20})
        other = httpx.get(f"{url}/v1/predict-price/{code}", params={"num_price_bins": 21})
        assert (first.headers["x-cache"], second.headers["x-cache"], other.headers["x-cache"]) == (
            "miss",
            "hit",
            "miss",
        )
        assert second.json()["cached"] and second.json()["curve"] == first.json()["curve"]
        keys = [k.decode() for k in client.keys("pricing:v4:*")]
        assert len(keys) == 2 and all(first.json()["model_version"] in k for k in keys)
        assert httpx.get(f"{url}/readyz").json()["redis"] is True
        # A new promotion of the same stockcode: picked up without a restart, never an old curve.
        proc = run_pricing(project, "--stockcodes", code)
        assert proc.returncode == 0, proc.stderr
        third = httpx.get(f"{url}/v1/predict-price/{code}", params={"num_price_bins": 20})
        assert third.headers["x-cache"] == "miss"
        assert third.json()["model_version"] != first.json()["model_version"]
        assert third.json()["model_version"] == read_pointer(store_of(project), code)["version"]


def test_redis_stopped_mid_test_never_fails_a_request(promoted_project, tmp_path):
    """A Redis of the test's own on a spare port, stopped between requests."""
    code = codes_of(promoted_project)[0]
    server, port = start_private_redis(tmp_path)
    try:
        client = redis.Redis(port=port)
        with api_server(promoted_project, REDIS_URL=f"redis://127.0.0.1:{port}/0") as url:
            params = {"num_price_bins": 10}
            before = [httpx.get(f"{url}/v1/predict-price/{code}", params=params) for _ in range(2)]
            assert [r.headers["x-cache"] for r in before] == ["miss", "hit"] and client.dbsize() == 1
            server.terminate()
            server.wait(timeout=10)
            during = [
                httpx.get(f"{url}/v1/predict-price/{code}", params=params | {"num_price_bins": 11}) for _ in range(3)
            ]
            ready = httpx.get(f"{url}/readyz").json()
    finally:
        if server.poll() is None:
            server.kill()
    assert [r.status_code for r in during] == [200, 200, 200]
    assert during[-1].headers["x-cache"] == "hit"  # the in-process cache took over
    assert ready["redis"] is False and "unavailable" in ready["cache"]


def copied_bundle(promoted_project, tmp_path):
    """A copy of the promoted project to tamper with: the folder, its first stockcode, that stockcode's
    current manifest and the bundle's folder in the store."""
    project = tmp_path / "project"
    shutil.copytree(promoted_project, project)
    code = codes_of(project)[0]
    store = store_of(project)
    pointer = read_pointer(store, code)
    manifest = json.loads(store.get_bytes(pointer["manifest_key"]))
    folder = project / ".pricing" / "store" / pointer["manifest_key"].rsplit("/", 1)[0]
    return project, code, manifest, folder


def test_a_tampered_champion_falls_back_to_the_next_model(promoted_project, tmp_path):
    project, code, manifest, folder = copied_bundle(promoted_project, tmp_path)
    assert manifest["champion"] == "ensemble"  # the models' mean: its folder holds ensemble.json alone
    for path in (folder / "models" / manifest["champion"]).rglob("*"):
        if path.is_file():
            path.write_bytes(b"tampered")
    with api_server(project) as url:
        answer = httpx.get(f"{url}/v1/predict-price/{code}", params={"curve_source": "demand_model"}).json()
        response = httpx.get(f"{url}/v1/predict-price/{code}").json()  # no model runs for the list-price response
    assert response["curve_source"] == "list_price_response" and response["skipped_models"] == []
    assert answer["model"] == manifest["fallback_chain"][0] and answer["fallback_used"]
    assert answer["skipped_models"][0]["model"] == manifest["champion"]
    assert "SHA-256" in answer["skipped_models"][0]["reason"]


def test_a_tampered_member_file_refuses_the_mean_and_that_fallback(promoted_project, tmp_path):
    """The mean's members are stored once, as the fallbacks: a member's file that fails its SHA-256 check
    refuses both, and the next single model answers."""
    project, code, manifest, folder = copied_bundle(promoted_project, tmp_path)
    member, after = manifest["fallback_chain"][:2]
    assert manifest["champion"] == "ensemble" and after not in ("recent_mean_baseline", "seasonal_naive_baseline")
    assert not (folder / "models" / "ensemble" / member).exists()  # no second copy of the member
    for path in (folder / "models" / member).rglob("*"):
        path.write_bytes(b"tampered")
    with api_server(project) as url:
        answer = httpx.get(f"{url}/v1/predict-price/{code}", params={"curve_source": "demand_model"}).json()
    assert [s["model"] for s in answer["skipped_models"]] == ["ensemble", member]
    assert all("SHA-256" in s["reason"] for s in answer["skipped_models"])
    assert answer["model"] == after and answer["fallback_used"]


def test_bearer_token_and_cors_allow_list(promoted_project):
    code = codes_of(promoted_project)[0]
    env = {"PRICING_API_TOKEN": "s3cret-token", "PRICING_CORS_ORIGINS": "https://pricing.example"}
    with api_server(promoted_project, **env) as url:
        assert httpx.get(f"{url}/v1/predict-price/{code}").status_code == 401
        assert httpx.get(f"{url}/v1/stockcodes", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = httpx.get(
            f"{url}/v1/stockcodes",
            headers={"Authorization": "Bearer s3cret-token", "Origin": "https://pricing.example"},
        )
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://pricing.example"
        foreign = httpx.get(
            f"{url}/v1/stockcodes", headers={"Authorization": "Bearer s3cret-token", "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in foreign.headers
        assert httpx.get(f"{url}/healthz").status_code == 200  # probes need no token


def test_serving_never_imports_dagster(promoted_project):
    code = codes_of(promoted_project)[0]
    script = (
        "import sys; sys.modules['dagster'] = None; sys.modules['evidently'] = None\n"
        "from fastapi.testclient import TestClient\n"
        "from serving.app import create_app\n"
        f"assert TestClient(create_app()).get('/v1/predict-price/{code}').status_code == 200\n"
        "import serving.lambda_handler\n"
    )
    env = {"PRICING_PROJECT_DIR": str(promoted_project), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
