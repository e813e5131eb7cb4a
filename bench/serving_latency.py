"""Latency of GET /v1/predict-price over real HTTP, against a straightforward implementation.

Spawns the API (``python -m serving``, uvicorn, one process) on loopback and measures, for
every promoted stockcode and 100 list prices, both curves an answer can carry, side by side in the
same server: the list-price response (``response``: the default, the response the recommendation
maximises; ``pricing.list_price_curve`` on the inputs the bundle keeps, no demand model runs) and the
demand model's curve (``model``: ``curve_source=demand_model``: the champion forecasts the bundled
week again, two rows, and ``pricing.predict_curve`` moves that forecast along the same response):

- cached: the same request over and over (every answer an ``X-Cache: hit``), 1 and 8 clients;
- uncached: ``unitprice_min`` moved by 1e-6 on every request, so every answer is a miss;
- cold start: process spawn to the first 200 of predict-price (imports, bundle load; the default
  curve, so no model load);
- RSS of the server process after the runs (``/proc/<pid>/status``).

Side by side, in the same run, a "straightforward" API (defined below, served by uvicorn in a
second process) that on every request reads and verifies the bundle, reloads the champion, parses
the preprocessor, the scenario and the recommendation's inputs and makes the demand-model curve
from scratch; no cache. Uncached blocks of ours and of the straightforward app are interleaved so
that background noise hits both alike.

Clients are threads with one keep-alive ``httpx.Client`` each; they share the machine with the
server, so on a small VM the 8-client figures include the clients' own CPU use. The single-client
cached runs and ``/healthz`` are measured again with the standard library's ``http.client`` (server
``ours, http.client``): httpx's own cost per request (about half a millisecond here) is the client's, not the
service's, and it is most of a cached answer's time.

    python bench/serving_latency.py            # builds real bundles from PRICING_DEV_DATA, then measures them
    python bench/serving_latency.py --real-project DIR   # reuse a folder with promoted real bundles
    python bench/serving_latency.py --bundles both       # synthetic small-budget bundles as well
    python bench/serving_latency.py --quick    # smoke run: few requests

Targets: issue 4's for the model curve (cached p50 <= 3 ms, uncached p50 <= 30 ms, p99 <= 100 ms,
5x the straightforward app) and issue 13's for the answer users get, the response curve on real
default-budget bundles (cached p50 <= 2 ms, uncached p50 <= 15 ms, p99 <= 50 ms).

Two kinds of bundles, measured one after the other with the same requests, reported side by side:
real default-budget ones (REAL_CODES of the real file, PRICING_DEV_DATA, at the default budget: the
models a user's run makes; a stockcode a check holds has no bundle and is left out) and, asked for,
synthetic small-budget ones (`pricing run --top 4` on the 4-product synthetic source with a reduced
tuning budget: quick to build, small models; those the challenger holds have no bundle either).

Writes bench/results/serving_latency.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from benchlib import TARGETS as ALL_TARGETS
from benchlib import machine as bench_machine
from benchlib import write_json
from report import render

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
BINS = 100
REDIS_URL = "redis://127.0.0.1:6379/14"
BUILD_ENV = {"PRICING_SYNTHETIC_PRODUCTS": "4", "PRICING_DFN_TRIALS": "3", "PRICING_BACKUP_TRIALS": "5"}
# Real bundles: active products of the real file whose weekly models pass the promotion checks (85123A,
# 22423 and 21212 are held by the challenger on the dev file), at the default tuning budget, so the models are
# the size a user's run makes them (the synthetic ones above are small on purpose).
REAL_CODES = ("85099B", "22383", "22386")
BUDGET_VARIABLES = {"PRICING_DFN_TRIALS", "PRICING_DFN_MAX_EPOCHS", "PRICING_BACKUP_TRIALS", "PRICING_TUNING_SECONDS"}
SYNTHETIC_LABEL = "synthetic, small budget"
REAL_LABEL = "real, default budget"
TARGETS = {k: ALL_TARGETS[k] for k in ("cached_p50_ms", "uncached_p50_ms", "uncached_p99_ms", "speedup_p50")}
# Issue 13's latency targets for the answer with the list-price recommendation (real default-budget bundles).
RESPONSE_TARGETS = {"cached_p50_ms": 2.0, "uncached_p50_ms": 15.0, "uncached_p99_ms": 50.0}
# The two curves of an answer: the query parameter that asks for each.
CURVES = {"response": "list_price_response", "model": "demand_model"}

STRAIGHTFORWARD_APP = '''
"""The straightforward predict-price (a demand-model curve): everything from scratch on every request, no cache."""

import io
import json
import math
import time

import numpy as np
import pandas as pd
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from pricing_assets.core.bundle import read_bundle
from pricing_assets.core.models import load_model
from pricing_assets.core.pricing import predict_curve
from pricing_assets.core.recommendation_inputs import RecommendationInputs
from pricing_assets.core.splits import Preprocessor
from pricing_assets.core.store import open_store
from pricing_assets.settings import Settings

store = open_store(Settings.from_env())
app = FastAPI()


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


def answer(code, unitprice_min=None, unitprice_max=None, num_price_bins=100, marks=None):
    mark = marks.append if marks is not None else (lambda _: None)
    mark(("start", time.perf_counter()))
    loaded = read_bundle(store, code)  # pointer, manifest and every file, SHA-256 verified
    mark(("read_bundle", time.perf_counter()))
    manifest = loaded.manifest
    champion = manifest["champion"]
    model = load_model(champion, loaded.model_files(champion))
    mark(("load_model", time.perf_counter()))
    preprocessor = Preprocessor.from_json(loaded.files["preprocessor.json"])
    scenario = pd.read_parquet(io.BytesIO(loaded.files["scenario.parquet"]))
    inputs = RecommendationInputs.from_dict(json.loads(loaded.files["recommendation.json"])["inputs"])
    mark(("preprocessor_scenario_inputs", time.perf_counter()))
    current, share = inputs.mix.current_list_price, inputs.config.guardrail
    low = unitprice_min if unitprice_min is not None else math.floor(100 * current * max(0.5, 1 - 2 * share)) / 100
    high = unitprice_max if unitprice_max is not None else math.ceil(100 * current * (1 + 2 * share)) / 100
    prices = np.linspace(low, high, num_price_bins)
    residuals = next(x["validation_residuals"] for x in manifest["models"] if x["kind"] == champion)
    frame = predict_curve(model, preprocessor, scenario, inputs, residuals, prices).curve
    mark(("forecast_and_curve", time.perf_counter()))
    objective = inputs.config.objective
    values = frame["margin" if objective == "margin" else "sales"].to_numpy()
    best = int(np.argmax(values))
    body = {
        "stockcode": code, "curve_source": "demand_model", "objective": objective, "unit_cost": inputs.unit_cost,
        "curve": frame.to_dict(orient="records"),
        "optimal_price": float(prices[best]), "optimal_value": float(values[best]),
        "optimum_on_edge": best in (0, len(prices) - 1), "model": champion, "fallback_used": False,
        "skipped_models": [], "model_version": manifest["version"], "lineage_id": manifest["lineage_id"],
        "recommendation": manifest["recommendation"], "recommendation_recomputed": False, "cached": False,
    }
    mark(("body", time.perf_counter()))
    return body


@app.get("/v1/predict-price/{code}")
def predict_price(code: str, unitprice_min: float | None = None, unitprice_max: float | None = None,
                  num_price_bins: int = 100):
    return JSONResponse(answer(code, unitprice_min, unitprice_max, num_price_bins), headers={"X-Cache": "miss"})
'''


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def machine() -> dict[str, Any]:
    """benchlib's machine record, plus the HTTP client's version (it is part of every latency here)."""
    return {**bench_machine(), "httpx": httpx.__version__}


def command() -> str:
    return shlex.join([sys.executable, *sys.argv])


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": git("status", "--porcelain", "serving", "pricing_assets")}


def proc_status(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)  # MiB
    return out


def cpu_snapshot() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine, CPU seconds of this process and its waited children)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]  # minus idle and iowait
    t = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), t.user + t.system + t.children_user + t.children_system


def build_project(project: Path) -> float:
    env = {**os.environ, **BUILD_ENV, "PRICING_PROJECT_DIR": str(project)}
    env.pop("DAGSTER_HOME", None)
    log(f"building promoted bundles: pricing run --top 4 in {project} ({BUILD_ENV})")
    t0 = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "pricing"), "run", "--top", "4"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return round(time.perf_counter() - t0, 1)


class Server:
    """A uvicorn process on loopback; ``cold_start_s`` is spawn to the first 200 of ``first_path``."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], port: int, logdir: Path) -> None:
        self.name, self.port = name, port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = logdir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.args, self.env = args, env
        self.proc: subprocess.Popen | None = None
        self.cold_start_s: float | None = None

    def start(self, first_path: str, timeout: float = 120.0) -> float:
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO)
        with httpx.Client(base_url=self.base, timeout=30.0) as client:
            while time.perf_counter() - t0 < timeout:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
                try:
                    r = client.get(first_path)
                    if r.status_code == 200:
                        self.cold_start_s = time.perf_counter() - t0
                        return self.cold_start_s
                    raise RuntimeError(f"{self.name}: {r.status_code} {r.text[:300]}")
                except httpx.TransportError:
                    time.sleep(0.005)
        raise TimeoutError(f"{self.name} gave no 200 within {timeout}s; see {self.log_path}")

    def memory(self) -> dict[str, float]:
        return proc_status(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Counter:
    """A process-wide request counter, so every uncached request asks for a new unitprice_min."""

    def __init__(self) -> None:
        self._n, self._lock = 0, threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._n += 1
            return self._n


MINIMAL_CLIENT = "http.client"  # the server name's suffix of the runs measured with the standard library's client


def run_load(
    base: str, paths, n: int, clients: int, expect_cache: str | None, client_kind: str = "httpx"
) -> dict[str, Any]:
    """``n`` requests from ``clients`` threads (one keep-alive connection each); latencies in ms.

    ``client_kind``: ``httpx`` (what the other runs use), or ``http.client``, the standard library's
    connection, whose own cost per request is about half a millisecond smaller on this machine: what is left is
    the server and the loopback, which is what a cached answer's target is about."""
    latencies: list[float] = []
    errors: list[str] = []
    wrong_cache = 0
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    share = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]

    def worker(count: int) -> None:
        nonlocal wrong_cache
        mine, bad = [], 0
        with _connection(base, client_kind) as get:
            get("/healthz")  # open the connection before the clock starts
            barrier.wait()
            for _ in range(count):
                path = paths()
                t0 = time.perf_counter()
                status, cache, text = get(path)
                mine.append((time.perf_counter() - t0) * 1000)
                if status != 200:
                    errors.append(f"{status} {text[:200]}")
                elif expect_cache and cache != expect_cache:
                    bad += 1
        with lock:
            latencies.extend(mine)
            wrong_cache += bad

    threads = [threading.Thread(target=worker, args=(c,)) for c in share]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, first: {errors[0]}")
    return {"latencies": latencies, "wall_s": wall, "wrong_cache_header": wrong_cache}


@contextlib.contextmanager
def _connection(base: str, client_kind: str):
    """A keep-alive connection as ``get(path) -> (status, X-Cache header, body text)``, the whole body read."""
    if client_kind == "httpx":
        with httpx.Client(base_url=base, timeout=60.0) as client:

            def get(path: str) -> tuple[int, str | None, str]:
                r = client.get(path)
                return r.status_code, r.headers.get("x-cache"), r.text

            yield get
        return
    if client_kind != MINIMAL_CLIENT:
        raise ValueError(f"unknown client {client_kind!r}: httpx or {MINIMAL_CLIENT}")
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60.0)

    def get(path: str) -> tuple[int, str | None, str]:
        connection.request("GET", path)
        r = connection.getresponse()
        body = r.read()
        return r.status, r.getheader("x-cache"), body.decode("utf-8", "replace")

    try:
        yield get
    finally:
        connection.close()


def summarise(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    lat = np.asarray([x for b in blocks for x in b["latencies"]])
    wall = sum(b["wall_s"] for b in blocks)
    return {
        "n": int(lat.size),
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p90_ms": round(float(np.percentile(lat, 90)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
        "max_ms": round(float(lat.max()), 2),
        "mean_ms": round(float(lat.mean()), 2),
        "req_per_s": round(lat.size / wall, 1),
        "wrong_cache_header": sum(b["wrong_cache_header"] for b in blocks),
    }


def predict_path(code: str, low: float, high: float, curve: str = "model") -> str:
    return (
        f"/v1/predict-price/{code}?num_price_bins={BINS}&unitprice_min={low:.9f}&unitprice_max={high:.9f}"
        f"&curve_source={CURVES[curve]}"
    )


def profile_uncached(project: Path, app_dir: Path, code: str, n: int) -> dict[str, Any]:
    """In-process split (no HTTP) of ours uncached, ours cached hit, and the straightforward app."""
    os.environ["PRICING_PROJECT_DIR"] = str(project)
    from pricing_assets.core import pricing
    from pricing_assets.core.forecast import forecast_next_week
    from pricing_assets.core.store import open_store
    from pricing_assets.settings import Settings
    from serving.app import Objective, encode_model_answer, encode_response_answer, response_range
    from serving.registry import BundleRegistry

    bundle = BundleRegistry(open_store(Settings.from_env())).get(code)
    champion = bundle.manifest["champion"]
    model = bundle._model(champion)
    inputs = bundle.recommendation_inputs
    residuals = bundle.residuals(champion)
    low, high = response_range(inputs.mix.current_list_price, inputs.config.guardrail)
    objective = Objective(inputs.config.objective)
    # The demand-model curve: the champion's forecast of the week (two rows), then the curve from it, then JSON.
    stages: dict[str, list[float]] = {k: [] for k in ("forecast", "curve", "predict_total", "body_json")}
    for i in range(n + 5):
        prices = np.linspace(low + i * 1e-6, high, BINS)
        t0 = time.perf_counter()
        forecast_next_week(model, bundle.preprocessor, bundle.scenario, residuals, inputs.config.seed)
        t1 = time.perf_counter()
        pricing.list_price_curve(inputs, prices, inputs.unit_cost)
        t2 = time.perf_counter()
        answer = bundle.predict(prices, inputs.unit_cost)
        t3 = time.perf_counter()
        encoded = encode_model_answer(code, bundle, answer, objective, inputs.unit_cost)  # what the route sends
        t4 = time.perf_counter()
        if i >= 5:
            for key, value in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                stages[key].append(value * 1000)
    # The list-price response curve (the default answer): the curve alone, and the whole answer (curve and JSON).
    response: dict[str, list[float]] = {"response_curve": [], "whole_answer": []}
    for i in range(n + 5):
        prices = np.linspace(low + i * 1e-6, high, BINS)
        t0 = time.perf_counter()
        pricing.list_price_curve(inputs, prices, inputs.unit_cost)
        t1 = time.perf_counter()
        encode_response_answer(code, bundle, prices, objective, inputs.unit_cost)
        t2 = time.perf_counter()
        if i >= 5:
            response["response_curve"].append((t1 - t0) * 1000)
            response["whole_answer"].append((t2 - t1) * 1000)
    # What a cache hit does besides HTTP: the key, the stored bytes, a Response around them (as the route).
    from fastapi.responses import Response

    from serving.cache import LRUCache, cache_key

    stored, lru, hit = f'{encoded}, "cached": true}}'.encode(), LRUCache(), []
    params = {"min": 1.0, "max": 2.0, "bins": BINS, "objective": "revenue", "cost": None, "curve": "demand_model"}
    lru.set(cache_key(code, bundle.version, params), stored)
    for _ in range(n + 5):
        t0 = time.perf_counter()
        stored_bytes = lru.get(cache_key(code, bundle.version, params))
        Response(stored_bytes, media_type="application/json", headers={"X-Cache": "hit"})
        hit.append((time.perf_counter() - t0) * 1000)
    # The straightforward app, step by step.
    sys.path.insert(0, str(app_dir))
    import straightforward_app

    straightforward_app.store = open_store(Settings.from_env())  # this project's store (the module is imported once)
    straight: dict[str, list[float]] = {}
    for i in range(n // 2 + 3):
        marks: list[tuple[str, float]] = []
        straightforward_app.answer(code, low + i * 1e-6, high, BINS, marks)
        if i >= 3:
            for (_, before), (label, after) in itertools.pairwise(marks):
                straight.setdefault(label, []).append((after - before) * 1000)
            straight.setdefault("total", []).append((marks[-1][1] - marks[0][1]) * 1000)
    return {
        "champion": champion,
        # Rows through the model (the week to forecast, one per price list) and elasticity draws x prices of a curve.
        "grid_rows": len(bundle.scenario),
        "curve_cells": BINS * inputs.config.draws,
        "body_bytes": len(stored),
        "ours_uncached_median_ms": {k: round(float(np.median(v)), 2) for k, v in stages.items()},
        "ours_response_uncached_median_ms": {k: round(float(np.median(v)), 2) for k, v in response.items() if v},
        "ours_cache_hit_handler_median_ms": round(float(np.median(hit)), 3),
        "straightforward_median_ms": {k: round(float(np.median(v)), 2) for k, v in straight.items()},
    }


def build_real_project(project: Path, data: Path) -> dict[str, Any]:
    """Promoted bundles of REAL_CODES from the real file at the default tuning budget (what a user gets).

    The suite's reduced budget variables are removed, so the models are as large as a default run
    makes them; a stockcode whose checks do not pass has no bundle and is reported as such.
    """
    env = {k: v for k, v in os.environ.items() if k not in BUDGET_VARIABLES and k != "DAGSTER_HOME"}
    env["PRICING_PROJECT_DIR"] = str(project)
    command = ["pricing", "run", "--source", "uci", "--data", str(data), "--stockcodes", ",".join(REAL_CODES)]
    log(f"building real default-budget bundles: {' '.join(command)} in {project}")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "pricing"), *command[1:]], env=env, capture_output=True, text=True
    )
    return {
        "command": " ".join(command),
        "env": "default budget",
        "seconds": round(time.perf_counter() - t0, 1),
        "exit_code": proc.returncode,
    }


def measure(project: Path, bundles_label: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Every configuration against the promoted bundles of one project folder (servers started and stopped here)."""
    tmp.mkdir(parents=True, exist_ok=True)
    n_cached, n_uncached, n_straight, blocks = (40, 24, 12, 2) if args.quick else (300, 150, 60, 3)
    cold_starts = 1 if args.quick else args.cold_starts
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PRICING_REDIS_URL", "DAGSTER_HOME")}
    env["PRICING_PROJECT_DIR"] = str(project)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))

    sys.path.insert(0, str(REPO))
    from pricing_assets.core import bundle as bundles
    from pricing_assets.core.store import open_store
    from pricing_assets.settings import Settings
    from serving.app import response_range
    from serving.registry import _recommendation_inputs

    store = open_store(Settings.from_env({**os.environ, "PRICING_PROJECT_DIR": str(project)}))
    codes = bundles.promoted_stockcodes(store)
    if not codes:
        raise SystemExit(f"no promoted bundles in {project}")
    products = {}
    for code in codes:
        loaded = bundles.read_bundle(store, code)
        manifest = loaded.manifest
        inputs = _recommendation_inputs(loaded.files.get("recommendation.json"))
        if inputs is None:
            log(f"{code}: its bundle keeps no recommendation inputs (promoted before the weekly models): left out")
            continue
        # Both curves over the same default range: the list +/- twice the guardrail share.
        band = list(response_range(inputs.mix.current_list_price, inputs.config.guardrail))
        ranges = {"response": band, "model": band}
        products[code] = {
            "bundles": bundles_label,
            "champion": manifest["champion"],
            "version": manifest["version"],
            "ranges": ranges,
            "curves": [curve for curve in CURVES if curve in ranges],  # the default one first
        }
    if not products:
        raise SystemExit(f"no promoted bundle of the weekly models in {project}")
    codes = list(products)
    log(f"{bundles_label}: stockcodes {products}")
    cpu_start, load_measure_start, t_measure = cpu_snapshot(), os.getloadavg(), time.perf_counter()
    first_code = codes[0]
    first_curve = products[first_code]["curves"][0]  # what the answer carries by default
    first_path = predict_path(first_code, *products[first_code]["ranges"][first_curve], first_curve)

    app_dir = tmp / "straightforward"
    app_dir.mkdir(exist_ok=True)
    (app_dir / "straightforward_app.py").write_text(textwrap.dedent(STRAIGHTFORWARD_APP))
    py = sys.executable

    def ours(name: str, extra_env: dict[str, str] | None = None) -> Server:
        port = free_port()
        args = [py, "-m", "serving", "--host", "127.0.0.1", "--port", str(port)]
        return Server(name, args, {**env, **(extra_env or {})}, port, tmp)

    # Cold starts: spawn -> first 200 of predict-price (a miss of the default curve: imports, bundle read, curve).
    cold = []
    for i in range(cold_starts):
        server = ours(f"ours_cold_{i}")
        cold.append(round(server.start(first_path), 3))
        server.stop()
        log(f"cold start {i + 1}/{cold_starts}: {cold[-1]:.2f}s")
    server = ours("ours")
    cold.append(round(server.start(first_path), 3))
    straight_port = free_port()
    straight = Server(
        "straightforward",
        [py, "-m", "uvicorn", "straightforward_app:app", "--app-dir", str(app_dir), "--port", str(straight_port)],
        env,
        straight_port,
        tmp,
    )
    straight_cold = round(straight.start(first_path), 3)
    servers = {"ours": server, "straightforward": straight}
    redis_server = None
    if not args.no_redis and redis_reachable():
        redis_server = ours("ours_redis", {"REDIS_URL": REDIS_URL})
        redis_server.start(first_path)
        servers["ours_redis"] = redis_server

    counter = Counter()
    results: dict[str, Any] = {}
    try:
        for code, info in products.items():
            log(f"{code} (champion {info['champion']}, curves {info['curves']})")

            def repeat(curve: str, code: str = code, info: dict = info):
                path = predict_path(code, *info["ranges"][curve], curve)
                return lambda: path

            def fresh(curve: str, code: str = code, info: dict = info):
                low, high = info["ranges"][curve]
                return lambda: predict_path(code, low + counter.next() * 1e-6, high, curve)

            def serves(name: str, curve: str) -> bool:
                return name != "straightforward" or curve == "model"  # it computes the model curve only

            per: dict[str, Any] = {}
            for name, srv in servers.items():  # warm-up: connections, lazy model load, first cached entry
                for curve in info["curves"]:
                    if serves(name, curve):
                        run_load(srv.base, repeat(curve), 10, 1, None)
                        run_load(srv.base, fresh(curve), 10, 2, None)
            cached_servers = [s for s in ("ours", "ours_redis") if s in servers]
            for clients in (1, 8):
                per[f"ours/healthz/{clients}"] = summarise(
                    [run_load(server.base, lambda: "/healthz", n_cached, clients, None)]
                )
                for curve in info["curves"]:
                    for name in cached_servers:
                        key = f"{name}/{curve}-cached/{clients}"
                        per[key] = summarise([run_load(servers[name].base, repeat(curve), n_cached, clients, "hit")])
                        log(f"  {key}: {per[key]}")
                if clients == 1:  # the same single-client runs with the standard library's lighter client
                    minimal = f"ours, {MINIMAL_CLIENT}"
                    per[f"{minimal}/healthz/1"] = summarise(
                        [run_load(server.base, lambda: "/healthz", n_cached, 1, None, MINIMAL_CLIENT)]
                    )
                    for curve in info["curves"]:
                        key = f"{minimal}/{curve}-cached/1"
                        per[key] = summarise([run_load(server.base, repeat(curve), n_cached, 1, "hit", MINIMAL_CLIENT)])
                        log(f"  {key}: {per[key]}")
                raw: dict[str, list] = {}
                for _ in range(blocks):  # interleaved blocks: each curve of each server in turn
                    for curve in info["curves"]:
                        for name, srv in servers.items():
                            if not serves(name, curve):
                                continue
                            n = (n_straight if name == "straightforward" else n_uncached) // blocks
                            got = run_load(srv.base, fresh(curve), max(n, clients), clients, "miss")
                            raw.setdefault(f"{name}/{curve}-uncached/{clients}", []).append(got)
                for key, got in raw.items():
                    per[key] = summarise(got)
                    log(f"  {key}: {per[key]}")
            results[code] = {**info, "runs": per}
        memory = {name: srv.memory() for name, srv in servers.items()}
    finally:
        for srv in servers.values():
            srv.stop()

    cpu_end = cpu_snapshot()
    measure_s = time.perf_counter() - t_measure
    foreign = cpu_end[0] - cpu_start[0] - (cpu_end[1] - cpu_start[1])
    profile = {code: profile_uncached(project, app_dir, code, 10 if args.quick else 40) for code in codes}

    def ratio(code: str, clients: int, stat: str) -> float:
        runs = results[code]["runs"]
        straight, ours = runs[f"straightforward/model-uncached/{clients}"], runs[f"ours/model-uncached/{clients}"]
        return round(straight[stat] / ours[stat], 1)

    targets = {}
    for code in codes:
        runs = results[code]["runs"]
        c1, u1 = runs["ours/model-cached/1"], runs["ours/model-uncached/1"]
        targets[code] = {
            "model cached_p50_ms<=3": [c1["p50_ms"], c1["p50_ms"] <= TARGETS["cached_p50_ms"]],
            "model uncached_p50_ms<=30": [u1["p50_ms"], u1["p50_ms"] <= TARGETS["uncached_p50_ms"]],
            "model uncached_p99_ms<=100": [u1["p99_ms"], u1["p99_ms"] <= TARGETS["uncached_p99_ms"]],
            "model speedup_p50>=5x": [ratio(code, 1, "p50_ms"), ratio(code, 1, "p50_ms") >= TARGETS["speedup_p50"]],
        }
        if "ours/response-cached/1" in runs:
            c1, u1, goal = runs["ours/response-cached/1"], runs["ours/response-uncached/1"], RESPONSE_TARGETS
            targets[code] |= {
                "response cached_p50_ms<=2": [c1["p50_ms"], c1["p50_ms"] <= goal["cached_p50_ms"]],
                "response uncached_p50_ms<=15": [u1["p50_ms"], u1["p50_ms"] <= goal["uncached_p50_ms"]],
                "response uncached_p99_ms<=50": [u1["p99_ms"], u1["p99_ms"] <= goal["uncached_p99_ms"]],
            }
            minimal = runs.get(f"ours, {MINIMAL_CLIENT}/response-cached/1")
            if minimal:
                targets[code][f"response cached_p50_ms<=2 ({MINIMAL_CLIENT})"] = [
                    minimal["p50_ms"],
                    minimal["p50_ms"] <= goal["cached_p50_ms"],
                ]
        results[code]["straightforward_over_ours"] = {
            f"{stat}_{clients}_clients": ratio(code, clients, stat)
            for clients in (1, 8)
            for stat in ("p50_ms", "p99_ms")
        }
    return {
        "project": str(project),
        "loadavg_measure_start": [round(x, 2) for x in load_measure_start],
        "other_load": {
            "measure_wall_s": round(measure_s, 1),
            "cpu_s_of_other_processes": round(foreign, 1),
            "mean_cores_busy_with_other_processes": round(foreign / measure_s, 2),
        },
        "requests": {"cached": n_cached, "uncached": n_uncached, "straightforward": n_straight, "blocks": blocks},
        "cold_start_s": {
            "ours": cold,
            "ours_median": round(float(np.median(cold)), 3),
            "straightforward": straight_cold,
        },
        "rss_mib_after_runs": memory,
        "stockcodes": results,
        "targets": targets,
        "in_process_ms": profile,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, help="project folder with promoted bundles (default: build one)")
    parser.add_argument(
        "--real-project", type=Path, help="project folder with real default-budget bundles (default: build one)"
    )
    parser.add_argument(
        "--bundles",
        choices=("both", "synthetic", "real"),
        default="real",
        help="real default-budget bundles from PRICING_DEV_DATA (default), synthetic small-budget ones, or both",
    )
    parser.add_argument("--quick", action="store_true", help="few requests, one cold start: a smoke run")
    parser.add_argument("--no-redis", action="store_true", help="skip the extra runs with REDIS_URL")
    parser.add_argument("--cold-starts", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS / "serving_latency.json")
    args = parser.parse_args()
    started_at = time.time()
    load_start = os.getloadavg()
    t_start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="serving_latency_"))
    kinds: dict[str, dict[str, Any]] = {}
    builds: dict[str, Any] = {}
    if args.bundles in ("both", "synthetic"):
        project = args.project.resolve() if args.project else tmp / "synthetic"
        if args.project is None:
            project.mkdir()
            builds["synthetic"] = {
                "command": "pricing run --top 4",
                "env": BUILD_ENV,
                "seconds": build_project(project),
            }
        kinds["synthetic"] = measure(project, SYNTHETIC_LABEL, args, tmp / "synthetic-run")
    if args.bundles in ("both", "real"):
        sys.path.insert(0, str(REPO))
        from pricing_assets.settings import Settings

        data = Settings.from_env().dev_data
        if args.real_project is None and not data.is_file():
            log(f"no real bundles: the real data file is missing ({data}); set PRICING_DEV_DATA")
        else:
            project = args.real_project.resolve() if args.real_project else tmp / "real"
            if args.real_project is None:
                project.mkdir()
                builds["real"] = build_real_project(project, data)
            kinds["real"] = measure(project, REAL_LABEL, args, tmp / "real-run")
    merged = {key: {} for key in ("stockcodes", "targets", "in_process_ms")}
    for kind in kinds.values():
        for key in merged:
            clash = set(merged[key]) & set(kind[key])
            if clash:
                raise SystemExit(f"stockcodes {sorted(clash)} are in both kinds of bundles; measure them separately")
            merged[key].update(kind[key])
    first = next(iter(kinds.values()))
    report = {
        "command": command(),
        "git": git_state(),
        "quick": args.quick,
        "date": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started_at)),
        "machine": machine(),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "other_load": first["other_load"],
        "wall_s": round(time.perf_counter() - t_start, 1),
        "builds": builds,
        "bins": BINS,
        "requests": first["requests"],
        "server": "python -m serving (uvicorn, 1 process, access log on, in-process LRU unless ours_redis)",
        "clients": (
            "threads, one keep-alive httpx.Client each, on the same machine; the 'ours, http.client' runs: "
            "one thread with the standard library's http.client.HTTPConnection (keep-alive)"
        ),
        "kinds": {label: {k: v for k, v in kind.items() if k not in merged} for label, kind in kinds.items()},
        **merged,
    }
    report["benchmark"] = "serving_latency"
    write_json(args.output, report)
    print(render("serving_latency", report))


if __name__ == "__main__":
    main()
