"""Faults in serving: Redis stopped and restarted under load, the store unreachable at start-up
and later (refusing connections, then hanging), broken or tampered bundles, a model that
predicts NaN. Each test runs the real API process; what was served before a fault is still
served the same during and after it.

Already covered in ``serving/test_api.py`` and not repeated here: Redis stopped mid-test (no
restart), a tampered champion answered by the next model.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import redis

from ..conftest import free_port
from ..serving.conftest import api_process
from .support import (
    AWS_ENV,
    corrupt_files,
    local_store,
    make_champion,
    nan_linear_model,
    overflowing_linear_model,
    promoted_codes,
    repromote,
    start_moto,
    start_private_redis,
    start_redis,
    stop,
    upload_store,
)

pytestmark = [pytest.mark.slow, pytest.mark.reliability]
# The model chain answers demand-model curves; a bundle that keeps its recommendation's inputs answers
# with the list-price response unless asked for this (no model runs for that).
MODEL_CURVE = {"curve_source": "demand_model"}


# Broken bundles: one API process over one project with several deliberately broken stockcodes ----------
NAN_CHAMPION, TAMPERED_MODEL, NO_USABLE_MODEL, BAD_MANIFEST, SWAPPED = "NAN1", "TAMPER1", "DEAD1", "MANIFEST1", "SWAP1"
OVERFLOWING = "OVERFLOW1"
# Sound bundles whose pointers a test breaks, a sound one no request has loaded yet, and one that a promotion
# with every model file damaged follows.
LOADED_POINTER, UNLOADED_POINTER, NOT_YET_LOADED, DAMAGED_NEXT = "PTR1", "PTR2", "FRESH1", "DEAD2"


@pytest.fixture(scope="module")
def broken(promoted_project, tmp_path_factory):
    """Copies of a real bundle promoted under new stockcodes, each broken in one way, and the API on them."""
    project = tmp_path_factory.mktemp("broken") / "project"
    shutil.copytree(promoted_project, project)
    store = local_store(project)
    source = promoted_codes(project)[0]
    repromote(store, source, NAN_CHAMPION, nan_linear_model("elasticnet"))
    repromote(store, source, OVERFLOWING, overflowing_linear_model("elasticnet"))
    repromote(store, source, TAMPERED_MODEL, make_champion("dfn"))
    corrupt_files(project, TAMPERED_MODEL, "models/dfn/")
    repromote(store, source, NO_USABLE_MODEL)
    corrupt_files(project, NO_USABLE_MODEL, "models/")
    repromote(store, source, BAD_MANIFEST)
    corrupt_files(project, BAD_MANIFEST, "manifest.json")
    repromote(store, source, SWAPPED, run=1)
    for code in (LOADED_POINTER, UNLOADED_POINTER, NOT_YET_LOADED, DAMAGED_NEXT):
        repromote(store, source, code, run=1)
    with api_process(project) as server:
        yield project, source, server


def test_a_model_predicting_nan_is_skipped_for_the_next_in_the_chain(broken):
    project, _, server = broken
    manifest = httpx.get(f"{server.url}/v1/lineage/{NAN_CHAMPION}").json()
    answer = httpx.get(f"{server.url}/v1/predict-price/{NAN_CHAMPION}", params=MODEL_CURVE).json()
    assert manifest["champion"] == "elasticnet" and manifest["fallback_chain"][0] == "ensemble"
    # The models' mean holds the same elasticnet file (stored once), so it forecasts NaN too.
    assert [s["model"] for s in answer["skipped_models"]] == ["elasticnet", "ensemble"]
    assert all("non-finite" in s["reason"] for s in answer["skipped_models"])
    assert answer["model"] == manifest["fallback_chain"][1] and answer["fallback_used"]
    assert all(point["quantity"] >= 0 for point in answer["curve"])  # finite, or the JSON would not parse


def test_a_forecast_far_beyond_the_products_history_falls_back_too(broken):
    """ElasticNet with an intercept of 2000 forecasts a log-quantity near 1000 (half of it, averaged with the
    four-week mean): finite, its quantity is not. The models' mean, which holds the same file, forecasts about
    e^150 units (0.15 of it), finite too. Both are refused as implausible, not sent; the next model answers."""
    _, _, server = broken
    manifest = httpx.get(f"{server.url}/v1/lineage/{OVERFLOWING}").json()
    answer = httpx.get(f"{server.url}/v1/predict-price/{OVERFLOWING}", params=MODEL_CURVE)
    assert answer.status_code == 200 and answer.json()["model"] == manifest["fallback_chain"][1]
    skipped = answer.json()["skipped_models"]
    assert [s["model"] for s in skipped] == ["elasticnet", "ensemble"]
    assert all("is a model outside the weeks it learned from" in s["reason"] for s in skipped)


def test_a_tampered_model_file_is_refused_by_hash_before_loading_and_logged(broken):
    _, _, server = broken
    answer = httpx.get(f"{server.url}/v1/predict-price/{TAMPERED_MODEL}", params=MODEL_CURVE).json()
    assert answer["skipped_models"][0]["model"] == "dfn" and answer["model"] != "dfn"
    assert "SHA-256" in answer["skipped_models"][0]["reason"]
    log = server.log()
    assert f"{TAMPERED_MODEL} " in log and "models/dfn/state_dict.pt" in log and "fails its SHA-256 check" in log


def test_a_bundle_without_a_usable_model_answers_503_and_the_others_keep_serving(broken):
    """Every model file damaged: the bundle is refused whole (taken, it would replace a sound bundle that is
    serving, ``test_a_new_promotion_without_a_sound_model_leaves_the_previous_bundle_serving``), for the
    list-price response too, though no model runs for it."""
    _, source, server = broken
    for params in (MODEL_CURVE, {}):
        dead = httpx.get(f"{server.url}/v1/predict-price/{NO_USABLE_MODEL}", params=params)
        assert dead.status_code == 503 and "was refused" in dead.json()["detail"]
        assert "has all its files intact" in dead.json()["detail"] and "SHA-256" in dead.json()["detail"]
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200 and ready.json()["store"] == "ok" and NO_USABLE_MODEL in ready.json()["refused"]
    assert httpx.get(f"{server.url}/v1/predict-price/{source}").status_code == 200
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_a_manifest_that_does_not_match_its_pointer_is_refused_whole(broken):
    _, source, server = broken
    refused = httpx.get(f"{server.url}/v1/predict-price/{BAD_MANIFEST}")
    assert refused.status_code == 503
    assert "was refused" in refused.json()["detail"] and "does not match its pointer" in refused.json()["detail"]
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200 and "does not match its pointer" in ready.json()["refused"][BAD_MANIFEST]["reason"]
    assert ready.json()["store"] == "ok"  # a refused bundle is not an unreachable store
    assert httpx.get(f"{server.url}/v1/predict-price/{source}").status_code == 200
    assert "refused promotion" in server.log()


def test_a_tampered_new_promotion_leaves_the_previous_bundle_serving(broken):
    project, source, server = broken
    params = {"num_price_bins": 17}
    before = httpx.get(f"{server.url}/v1/predict-price/{SWAPPED}", params=params).json()
    bad = repromote(local_store(project), source, SWAPPED, run=2)
    corrupt_files(project, SWAPPED, "preprocessor.json")
    during = [httpx.get(f"{server.url}/v1/predict-price/{SWAPPED}", params={"num_price_bins": n}) for n in (17, 18)]
    ready = httpx.get(f"{server.url}/readyz").json()
    good = repromote(local_store(project), source, SWAPPED, run=3)
    after = httpx.get(f"{server.url}/v1/predict-price/{SWAPPED}", params=params).json()
    assert [r.status_code for r in during] == [200, 200]
    assert during[0].json()["model_version"] == during[1].json()["model_version"] == before["model_version"]
    assert during[0].json()["curve"] == before["curve"]  # nothing lost: the same answer as before the fault
    assert ready["refused"][SWAPPED]["version"] == bad["version"] and "SHA-256" in ready["refused"][SWAPPED]["reason"]
    assert ready["loaded"][SWAPPED] == before["model_version"]
    assert after["model_version"] == good["version"] != before["model_version"]  # a sound promotion still lands
    assert f"refused promotion {bad['version']} of {SWAPPED}" in server.log()


def test_a_new_promotion_without_a_sound_model_leaves_the_previous_bundle_serving(broken):
    """A lenient read sets damaged model files aside so the next model answers; a promotion whose every model
    file is damaged leaves none, so it is refused and the loaded bundle keeps answering, curves of its models
    too."""
    project, source, server = broken
    before = {
        name: httpx.get(f"{server.url}/v1/predict-price/{DAMAGED_NEXT}", params=params).json()
        for name, params in (("response", {}), ("model", MODEL_CURVE))
    }
    bad = repromote(local_store(project), source, DAMAGED_NEXT, run=2)
    corrupt_files(project, DAMAGED_NEXT, "models/")
    during = {
        name: httpx.get(f"{server.url}/v1/predict-price/{DAMAGED_NEXT}", params=params)
        for name, params in (("response", {}), ("model", MODEL_CURVE))
    }
    ready = httpx.get(f"{server.url}/readyz")
    good = repromote(local_store(project), source, DAMAGED_NEXT, run=3)
    after = httpx.get(f"{server.url}/v1/predict-price/{DAMAGED_NEXT}").json()
    assert {name: r.status_code for name, r in during.items()} == {"response": 200, "model": 200}
    for name, answer in during.items():  # nothing lost: the same answers as before the bad promotion
        assert answer.json()["model_version"] == before[name]["model_version"] != bad["version"]
        assert answer.json()["curve"] == before[name]["curve"]
    assert during["model"].json()["model"] == before["model"]["model"] and not during["model"].json()["fallback_used"]
    refused = ready.json()["refused"][DAMAGED_NEXT]
    assert ready.status_code == 200 and ready.json()["store"] == "ok"
    assert (
        refused["version"] == bad["version"]
        and ready.json()["loaded"][DAMAGED_NEXT] == before["model"]["model_version"]
    )
    assert f"no model of {DAMAGED_NEXT} {bad['version']} has all its files intact" in refused["reason"]
    assert "fails its SHA-256 check" in refused["reason"] and f"promote {DAMAGED_NEXT} again" in refused["reason"]
    assert after["model_version"] == good["version"]  # a sound promotion still lands


def test_an_unreadable_pointer_refuses_that_stockcode_alone(broken):
    """One stockcode's pointer truncated, another's without a version: a bad bundle, not a store outage. The
    others (one not loaded yet) keep serving and are listed, readiness is unaffected, the loaded bundle of the
    truncated one keeps answering, and mending the pointer ends the refusal."""
    project, source, server = broken
    root = project / ".pricing" / "store" / "promoted"
    before = httpx.get(f"{server.url}/v1/predict-price/{LOADED_POINTER}").json()
    pointer = root / LOADED_POINTER / "current.json"
    sound = pointer.read_bytes()
    pointer.write_bytes(sound[: len(sound) // 2])
    (root / UNLOADED_POINTER / "current.json").write_text(json.dumps({"stock_code": UNLOADED_POINTER}))
    try:
        kept = httpx.get(f"{server.url}/v1/predict-price/{LOADED_POINTER}")
        unloaded = httpx.get(f"{server.url}/v1/predict-price/{UNLOADED_POINTER}")
        others = [httpx.get(f"{server.url}/v1/predict-price/{code}") for code in (NOT_YET_LOADED, source)]
        listed = httpx.get(f"{server.url}/v1/stockcodes").json()["stockcodes"]
        ready = httpx.get(f"{server.url}/readyz")
    finally:
        pointer.write_bytes(sound)
    mended = httpx.get(f"{server.url}/v1/predict-price/{LOADED_POINTER}")
    ready_after = httpx.get(f"{server.url}/readyz").json()
    assert kept.status_code == 200 and kept.json()["curve"] == before["curve"]
    assert kept.json()["model_version"] == before["model_version"]
    assert unloaded.status_code == 503 and "was refused" in unloaded.json()["detail"]
    assert f"promoted/{UNLOADED_POINTER}/current.json does not name its version" in unloaded.json()["detail"]
    assert [r.status_code for r in others] == [200, 200]
    assert {LOADED_POINTER, UNLOADED_POINTER, NOT_YET_LOADED, source} <= set(listed)
    assert ready.status_code == 200 and ready.json()["store"] == "ok" and ready.json()["store_error"] is None
    refused = ready.json()["refused"]
    assert f"promoted/{LOADED_POINTER}/current.json is not valid JSON" in refused[LOADED_POINTER]["reason"]
    assert (
        f"promote {LOADED_POINTER} again (pricing run --stockcodes {LOADED_POINTER})"
        in refused[LOADED_POINTER]["reason"]
    )
    assert "does not name its version and manifest_key and manifest_sha256" in refused[UNLOADED_POINTER]["reason"]
    assert mended.status_code == 200 and mended.json()["model_version"] == before["model_version"]
    assert LOADED_POINTER not in ready_after["refused"] and UNLOADED_POINTER in ready_after["refused"]
    assert f"refused promotion unknown of {LOADED_POINTER}" in server.log()


# Redis stopped and restarted under a steady load --------------------------------------------------------
class SteadyLoad(threading.Thread):
    """Requests at a steady pace from a thread: a few repeated (cached) and fresh (uncached) curves."""

    def __init__(self, url: str, codes: list[str], per_second: float = 20.0) -> None:
        super().__init__(daemon=True)
        self.url, self.codes, self.pause = url, codes, 1.0 / per_second
        self.results: list[tuple[float, int, str, dict | None]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            n = 0
            while not self.halt.is_set():
                code = self.codes[n % len(self.codes)]
                bins = 10 + n % 5 if n % 3 else 100 + n  # two in three repeat a handful of curves
                try:
                    response = client.get(f"{self.url}/v1/predict-price/{code}", params={"num_price_bins": bins})
                    body = response.json() if response.status_code == 200 else None
                    self.results.append((time.monotonic(), response.status_code, response.headers["x-cache"], body))
                except httpx.HTTPError as exc:
                    self.results.append((time.monotonic(), 0, type(exc).__name__, None))
                n += 1
                time.sleep(self.pause)


@pytest.mark.timing  # more than 100 requests in the 12.5 s of load
def test_redis_stopped_and_restarted_under_load_loses_no_request(promoted_project, tmp_path):
    codes = promoted_codes(promoted_project)
    first_redis, port = start_private_redis(tmp_path)
    second_redis = None
    try:
        with api_process(promoted_project, REDIS_URL=f"redis://127.0.0.1:{port}/0") as server:
            load = SteadyLoad(server.url, codes)
            load.start()
            time.sleep(3)
            stop(first_redis)
            stopped_at = time.monotonic()
            time.sleep(3)
            ready_down = httpx.get(f"{server.url}/readyz").json()
            second_redis = start_redis(port, tmp_path)
            restarted_at = time.monotonic()
            time.sleep(6.5)  # past the cache's 5 s back-off: Redis is tried again
            load.halt.set()
            load.join(timeout=60)
            ready_up = httpx.get(f"{server.url}/readyz").json()
            keys_after_restart = redis.Redis(port=port).dbsize()
    finally:
        stop(first_redis)
        if second_redis is not None:
            stop(second_redis)
    statuses = [status for _, status, _, _ in load.results]
    print(f"{len(statuses)} requests while Redis was up, stopped and restarted: statuses {set(statuses)}")
    assert len(statuses) > 100 and set(statuses) == {200}, [r[:3] for r in load.results if r[1] != 200]
    # The same request gets the same curve before, during and after the outage.
    curves: dict[tuple[str, int], set[str]] = {}
    for _, _, _, body in load.results:
        curves.setdefault((body["stockcode"], len(body["curve"])), set()).add(json.dumps(body["curve"]))
    assert all(len(variants) == 1 for variants in curves.values())
    during = [r for r in load.results if stopped_at < r[0] < restarted_at]
    assert during and any(cache == "hit" for _, _, cache, _ in during)  # the in-process cache took over
    assert ready_down["redis"] is False and "unavailable" in ready_down["cache"]
    assert ready_up["redis"] is True and ready_up["cache"] == "redis"
    assert keys_after_restart > 0  # new answers are cached in the restarted Redis again


# The store unreachable at start-up, reachable, refusing connections, then hanging ------------------------
def test_store_unreachable_at_start_up_and_later_serves_what_it_has_loaded(promoted_project, monkeypatch):
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    codes = promoted_codes(promoted_project)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {"PRICING_S3_BUCKET": "served", "PRICING_S3_ENDPOINT_URL": endpoint}
    moto = None
    hanging = None
    try:
        with api_process(Path("/nonexistent-project"), **env) as server:
            # 1. Nothing reachable at start-up: alive, not ready, clear 503s.
            start_ready = httpx.get(f"{server.url}/readyz")
            start_answer = httpx.get(f"{server.url}/v1/predict-price/{codes[0]}")
            # 2. The store comes up: bundles load.
            moto = start_moto(port)
            upload_store(promoted_project, endpoint, "served")
            time.sleep(5.5)  # past the store back-off
            served = {code: httpx.get(f"{server.url}/v1/predict-price/{code}").json() for code in codes}
            up_ready = httpx.get(f"{server.url}/readyz")
            # 3. The store goes away (connections refused): loaded bundles keep answering, even new curves.
            stop(moto)
            refused_answers = [
                httpx.get(f"{server.url}/v1/predict-price/{code}", params=params)
                for code in codes
                for params in ({}, {"num_price_bins": 33})
            ]
            down_ready = httpx.get(f"{server.url}/readyz")
            # 4. The store hangs (accepts connections, never answers), as in a network partition.
            hanging = socket.create_server(("127.0.0.1", port), reuse_port=False)
            time.sleep(5.5)
            hanging_answers = [
                httpx.get(f"{server.url}/v1/predict-price/{code}", params={"num_price_bins": 34}, timeout=60)
                for code in codes
            ]
            hanging_ready = httpx.get(f"{server.url}/readyz", timeout=60)
            log = server.log()
    finally:
        if moto is not None:
            stop(moto)
        if hanging is not None:
            hanging.close()
    assert start_ready.status_code == 503
    assert start_ready.json()["store"] == "unreachable" and start_ready.json()["loaded"] == {}
    assert start_answer.status_code == 503 and "cannot be read now" in start_answer.json()["detail"]
    assert up_ready.status_code == 200 and up_ready.json()["store"] == "ok"
    assert set(up_ready.json()["loaded"]) == set(codes)
    assert [r.status_code for r in refused_answers] == [200] * len(refused_answers)
    for code in codes:  # nothing lost: the answers from memory are the ones the store gave
        assert refused_answers[2 * codes.index(code)].json()["curve"] == served[code]["curve"]
    assert down_ready.status_code == 200 and down_ready.json()["store"] == "unreachable"
    assert down_ready.json()["loaded"] == up_ready.json()["loaded"]
    assert [r.status_code for r in hanging_answers] == [200] * len(codes)
    assert hanging_ready.status_code == 200 and hanging_ready.json()["loaded"] == up_ready.json()["loaded"]
    assert "could not refresh" in log and "still serving" in log


def test_in_process_cache_is_bounded_in_bytes_not_only_entries():
    """Big curves (1000 bins are ~150 kB each) cannot pile up in the server's memory."""
    from serving.cache import LRUCache

    cache = LRUCache(max_entries=2048, ttl_seconds=300, max_bytes=1_000_000)
    for i in range(100):
        cache.set(f"k{i}", b"x" * 150_000)
    assert cache.size_bytes <= 1_000_000 and len(cache) == 6
    assert cache.get("k99") is not None and cache.get("k0") is None  # least recently used went first
    cache.set("huge", b"x" * 2_000_000)
    assert cache.get("huge") is None and cache.get("k99") is not None


def test_redis_that_never_answers_costs_each_request_at_most_its_timeout(promoted_project):
    """A Redis that accepts connections and never answers (a hung process): requests still get answers."""
    codes = promoted_codes(promoted_project)
    silent = socket.create_server(("127.0.0.1", 0))
    try:
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        with api_process(promoted_project, REDIS_URL=url) as server:
            answers = [httpx.get(f"{server.url}/v1/predict-price/{codes[0]}", timeout=30) for _ in range(3)]
            ready = httpx.get(f"{server.url}/readyz").json()
    finally:
        silent.close()
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert answers[-1].headers["x-cache"] == "hit"
    assert ready["redis"] is False
