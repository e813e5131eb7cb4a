"""Latency and throughput of `predict-price` over HTTP on loopback, beside a straightforward server.

Both servers run under uvicorn as separate processes on the same promoted bundle, measured in
the same run:
- ours (`python -m serving`): bundle verified and loaded once, the scenario preprocessed once
  per request with only the price columns recomputed per grid price, responses cached;
- straightforward: on every request it reads and verifies the bundle, reloads the champion,
  builds the whole repriced grid as a DataFrame and runs the fitted preprocessor over all of it;
  no cache.

    python bench/serving_http.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

STRAIGHTFORWARD = textwrap.dedent(
    """
    import io
    import numpy as np
    import pandas as pd
    from fastapi import FastAPI
    from pricing_assets.core.bundle import read_bundle
    from pricing_assets.core.features import price_derived_features
    from pricing_assets.core.metrics import to_quantity
    from pricing_assets.core.models import load_model
    from pricing_assets.core.splits import Preprocessor
    from pricing_assets.core.store import open_store
    from pricing_assets.settings import Settings

    app = FastAPI()
    store = open_store(Settings.from_env())

    @app.get("/v1/predict-price/{code}")
    def predict(code: str, unitprice_min: float, unitprice_max: float, num_price_bins: int = 100):
        bundle = read_bundle(store, code)
        champion = bundle.manifest["champion"]
        model = load_model(champion, bundle.model_files(champion))
        preprocessor = Preprocessor.from_json(bundle.files["preprocessor.json"])
        scenario = pd.read_parquet(io.BytesIO(bundle.files["scenario.parquet"]))
        prices = np.linspace(unitprice_min, unitprice_max, num_price_bins)
        grid = scenario.loc[np.tile(np.arange(len(scenario)), len(prices))].reset_index(drop=True)
        repeated = np.repeat(prices, len(scenario))
        derived = price_derived_features(repeated, grid["past_max_price"], grid["past_median_price_28d"])
        for name, values in derived.items():
            grid[name] = values
        predicted = model.predict_log(preprocessor.transform(grid)).reshape(len(prices), len(scenario))
        quantity = to_quantity(predicted).mean(axis=1)
        sales = prices * quantity
        best = int(np.argmax(sales))
        curve = [
            {"unit_price": float(p), "quantity": float(q), "sales": float(s)}
            for p, q, s in zip(prices, quantity, sales)
        ]
        return {"curve": curve, "optimal_price": float(prices[best]), "model": champion}
    """
)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: list[str], env: dict, url: str, probe: str) -> tuple[subprocess.Popen, float]:
    """Start a server; return it and the seconds from spawn to the first 200 of ``probe``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    while time.perf_counter() - t0 < 120:
        try:
            if httpx.get(url + probe, timeout=5).status_code == 200:
                return proc, time.perf_counter() - t0
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{command} did not answer {probe}")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(url: str, paths: list[str], clients: int) -> dict:
    """Send every path once, split over ``clients`` threads with a keep-alive client each."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker(chunk: list[str]) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            for path in chunk:
                t0 = time.perf_counter()
                response = client.get(path)
                elapsed = time.perf_counter() - t0
                with lock:
                    latencies.append(elapsed)
                    errors[0] += response.status_code != 200

    chunks = [paths[i::clients] for i in range(clients)]
    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "errors": errors[0],
        "p50_ms": round(1000 * statistics.median(ordered), 2),
        "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
        "requests_per_second": round(len(ordered) / wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="few requests: a smoke run, not a measurement")
    args = parser.parse_args()
    n_cached, n_uncached, n_plain = (30, 20, 10) if args.quick else (400, 200, 60)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as project:
        env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME" and not k.startswith("PRICING_")}
        env.update(PRICING_PROJECT_DIR=project, PRICING_SYNTHETIC_PRODUCTS="4")
        built = subprocess.run([str(BIN / "pricing"), "run", "--top", "1"], env=env, capture_output=True, text=True)
        if built.returncode != 0:
            raise SystemExit(f"pricing run failed:\n{built.stderr[-2000:]}")
        code = next((Path(project) / ".pricing/store/promoted").iterdir()).name
        manifest_pointer = json.loads((Path(project) / f".pricing/store/promoted/{code}/current.json").read_text())
        manifest = json.loads((Path(project) / ".pricing/store" / manifest_pointer["manifest_key"]).read_text())
        low, high = manifest["pricing"]["price_min"], manifest["pricing"]["price_max"]
        base = f"/v1/predict-price/{code}?num_price_bins=100&unitprice_max={high}"
        ours_url, plain_url = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
        plain_module = Path(project) / "straightforward_app.py"
        plain_module.write_text(STRAIGHTFORWARD)
        ours_cmd = [sys.executable, "-m", "serving", "--host", "127.0.0.1", "--port", ours_url.rsplit(":", 1)[1]]
        plain_cmd = [
            sys.executable, "-m", "uvicorn", "straightforward_app:app", "--app-dir", project,
            "--host", "127.0.0.1", "--port", plain_url.rsplit(":", 1)[1], "--log-level", "warning",
        ]  # fmt: skip
        first = f"{base}&unitprice_min={low}"
        ours, ours_cold = start(ours_cmd, env, ours_url, first)
        plain, plain_cold = start(plain_cmd, env, plain_url, first)
        results: dict = {"cold_start_seconds": {"ours": round(ours_cold, 2), "straightforward": round(plain_cold, 2)}}
        try:
            for clients in (1, 8):
                tag = f"{clients}_client" + ("s" if clients > 1 else "")
                measure(ours_url, [first] * 20, clients)  # warm-up
                results[f"ours_cached_{tag}"] = measure(ours_url, [first] * n_cached, clients)
                unique = [f"{base}&unitprice_min={low + (clients * 10_000 + i) * 1e-6:.6f}" for i in range(n_uncached)]
                results[f"ours_uncached_{tag}"] = measure(ours_url, unique, clients)
                plain_paths = [f"{base}&unitprice_min={low + i * 1e-6:.6f}" for i in range(n_plain)]
                results[f"straightforward_{tag}"] = measure(plain_url, plain_paths, clients)
            results["rss_mib"] = {"ours": round(rss_mib(ours.pid), 1), "straightforward": round(rss_mib(plain.pid), 1)}
        finally:
            for proc in (ours, plain):
                proc.terminate()
                proc.wait(timeout=20)
    for tag in ("1_client", "8_clients"):
        ours_u, plain_u = results[f"ours_uncached_{tag}"], results[f"straightforward_{tag}"]
        results[f"speedup_uncached_{tag}"] = {
            "p50": round(plain_u["p50_ms"] / ours_u["p50_ms"], 1),
            "p99": round(plain_u["p99_ms"] / ours_u["p99_ms"], 1),
        }
    report = {
        "command": "python bench/serving_http.py" + (" --quick" if args.quick else ""),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_at_start": [round(x, 2) for x in load_before],
        "stockcode": code,
        "champion": manifest["champion"],
        "bins": 100,
        "results": results,
    }
    out = REPO / "bench" / "results" / ("serving_http_quick.json" if args.quick else "serving_http.json")
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
