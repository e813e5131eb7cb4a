"""Serving at catalogue size: 600 promoted bundles against 3, side by side (issue 15, item 4).

The 600 bundles are copies of the real default-budget bundles (``serving_latency.REAL_CODES`` of the
dev file that pass the promotion checks, ``--real-project``, as ``bench/serving_latency.py`` builds them),
each a weekly bundle (a two-row week to forecast, the recommendation's inputs), promoted again under 600
stockcodes ``X0000``..``X0599`` through ``write_bundle`` (so every pointer, manifest and SHA-256 is
consistent, and each copy is read and verified like a real promotion). Building 600 real bundles
would take hours; what serving does per bundle (read, verify, parse, answer) does not depend on
which product a bundle is of, only on its size, and these are real bundles' sizes.

For each catalogue (the 3 real bundles; the 600 copies), one ``python -m serving`` process:

- start-up: spawn to the first 200 of ``/healthz``, and to the first 200 of a predict-price;
- ``/v1/stockcodes``: the first listing (walks the store) and repeated ones (kept
  ``PRICING_RELOAD_SECONDS``), the whole catalogue in one page;
- requests on three stockcodes: the list-price response answer uncached and cached, and the
  demand-model curve uncached, p50 and p99 (1 client, 100 bins), before and after every bundle of
  the catalogue was asked for once;
- every bundle asked for once (its first request loads it): p50 and p99 of those first requests;
- resident memory (VmRSS, VmHWM) after start-up, after the three, after every bundle, and what
  ``/readyz`` says is loaded (bundles, bytes, dropped to stay within ``PRICING_SERVING_BUNDLE_BYTES``).

The 600 catalogue runs twice: at the default bound (512 MiB) and at 64 MiB, to show the bound at work.

    python bench/serving_scale.py --real-project DIR [--copies 600] [--quick]

Writes bench/results/serving_scale.json.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from benchlib import begin, finish, log, write_json
from serving_latency import BINS, REAL_CODES, Server, free_port, run_load, summarise

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
SMALL_BOUND = 64 * 2**20
REQUESTS = itertools.count(1)  # across every call, so no two uncached requests of a run are alike


def build_catalogue(real: Path, dest: Path, copies: int) -> tuple[list[str], float]:
    """``copies`` copies of the real project's bundles, round robin, promoted under X0000, X0001, ..."""
    sys.path.insert(0, str(REPO))
    from pricing_assets.core.bundle import promoted_stockcodes, read_bundle, write_bundle
    from pricing_assets.core.store import LocalArtifactStore

    source = LocalArtifactStore(real / ".pricing" / "store")
    originals = [code for code in REAL_CODES if code in promoted_stockcodes(source)]
    if not originals:
        raise SystemExit(f"no real bundles of {REAL_CODES} in {real}: build them first (bench/serving_latency.py)")
    store = LocalArtifactStore(dest / ".pricing" / "store")
    added = ("stock_code", "version", "lineage_id", "run_id", "artifacts")  # write_bundle adds these
    read = {}
    for code in originals:
        bundle = read_bundle(source, code)
        read[code] = (dict(bundle.files), {k: v for k, v in bundle.manifest.items() if k not in added})
    t0 = time.perf_counter()
    codes = []
    for i in range(copies):
        files, manifest = read[originals[i % len(originals)]]
        code = f"X{i:04d}"
        write_bundle(store, code, files, manifest, f"{i:08d}-0000-0000-0000-000000000000")
        codes.append(code)
    return codes, round(time.perf_counter() - t0, 1)


def memory(server: Server) -> dict[str, float]:
    return server.memory()


def path(code: str, low: float | None = None, high: float | None = None, curve: str | None = None) -> str:
    query = f"num_price_bins={BINS}"
    if low is not None:
        query += f"&unitprice_min={low:.9f}&unitprice_max={high:.9f}"
    if curve:
        query += f"&curve_source={curve}"
    return f"/v1/predict-price/{code}?{query}"


class Fresh:
    """Each stockcode's default range with its ``unitprice_min`` moved on every call, so every answer is a miss."""

    def __init__(self, ranges: dict[str, tuple[float, float]], curve: str | None) -> None:
        self.ranges, self.codes, self.curve = ranges, list(ranges), curve

    def __call__(self) -> str:
        n = next(REQUESTS)
        code = self.codes[n % len(self.codes)]
        low, high = self.ranges[code]
        return path(code, low + n * 1e-6, high, self.curve)


def three_stockcodes(base: str, codes: list[str], n: int) -> dict[str, Any]:
    """The answer users get (list-price response) uncached and cached, and the model curve uncached.

    Every figure's answers are checked to be the misses or hits they stand for (``wrong_cache_header``)."""
    same = [path(code) for code in codes]
    counter = iter(range(10**9))
    ranges: dict[str | None, dict[str, tuple[float, float]]] = {None: {}, "demand_model": {}}
    for code in codes:  # warm: each bundle and its champion loaded, each default answer cached
        for curve, found in ranges.items():
            curve_points = httpx.get(base + path(code, curve=curve), timeout=60).raise_for_status().json()["curve"]
            found[code] = (curve_points[0]["unit_price"], curve_points[-1]["unit_price"])
    figures = {
        "response_uncached": summarise([run_load(base, Fresh(ranges[None], None), n, 1, "miss")]),
        "response_cached": summarise([run_load(base, lambda: same[next(counter) % len(same)], n, 1, "hit")]),
        "model_uncached": summarise([run_load(base, Fresh(ranges["demand_model"], "demand_model"), n // 2, 1, "miss")]),
    }
    wrong = {name: f["wrong_cache_header"] for name, f in figures.items() if f["wrong_cache_header"]}
    if wrong:
        raise RuntimeError(f"answers that were not the hit or miss measured: {wrong}")
    return figures


def measure(label: str, project: Path, codes: list[str], bound: int | None, n: int, tmp: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PRICING_REDIS_URL", "DAGSTER_HOME")}
    env["PRICING_PROJECT_DIR"] = str(project)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if bound is not None:
        env["PRICING_SERVING_BUNDLE_BYTES"] = str(bound)
    port = free_port()
    server = Server(
        label, [sys.executable, "-m", "serving", "--host", "127.0.0.1", "--port", str(port)], env, port, tmp
    )
    log(f"{label}: {len(codes)} bundles")
    try:
        healthz_s = server.start("/healthz")
        t0 = time.perf_counter()
        httpx.get(server.base + path(codes[0]), timeout=60).raise_for_status()
        first_answer_ms = (time.perf_counter() - t0) * 1000
        start = {"to_healthz_s": round(healthz_s, 3), "first_answer_ms": round(first_answer_ms, 1)}
        rss = {"after_start": memory(server)}
        with httpx.Client(base_url=server.base, timeout=60) as client:
            listing = []
            for _ in range(21):
                t0 = time.perf_counter()
                page = client.get("/v1/stockcodes").json()
                listing.append((time.perf_counter() - t0) * 1000)
            assert page["total"] == len(codes), page["total"]
        stockcodes_ms = {"first": round(listing[0], 2), "repeated_p50": round(float(np.median(listing[1:])), 2)}
        three = codes[:3]
        before = three_stockcodes(server.base, three, n)
        rss["after_three"] = memory(server)
        firsts = []
        with httpx.Client(base_url=server.base, timeout=60) as client:
            for code in codes:
                t0 = time.perf_counter()
                client.get(path(code, 0.5, 20.0)).raise_for_status()  # a miss, and for most a bundle load
                firsts.append((time.perf_counter() - t0) * 1000)
        every = {
            "n": len(firsts),
            "p50_ms": round(float(np.percentile(firsts, 50)), 2),
            "p99_ms": round(float(np.percentile(firsts, 99)), 2),
            "total_s": round(sum(firsts) / 1000, 1),
        }
        rss["after_every_bundle"] = memory(server)
        ready = httpx.get(server.base + "/readyz").json()
        after = three_stockcodes(server.base, three, n)
        rss["at_end"] = memory(server)
    finally:
        server.stop()
    loaded = len(ready["loaded"])
    return {
        "bundles": len(codes),
        "bound_bytes": ready["loaded_bytes_limit"],
        "start": start,
        "rss_mib": rss,
        "stockcodes_ms": stockcodes_ms,
        "three_before_every_bundle": before,
        "every_bundle_first_request": every,
        "three_after_every_bundle": after,
        "loaded_at_end": {
            "bundles": loaded,
            "bytes": ready["loaded_bytes"],
            "bytes_per_bundle": round(ready["loaded_bytes"] / loaded) if loaded else None,
            "evicted": ready["evicted"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real-project", type=Path, required=True, help="project folder with the real bundles")
    parser.add_argument("--copies", type=int, default=600)
    parser.add_argument("--quick", action="store_true", help="30 copies, few requests: a smoke run")
    parser.add_argument("--output", type=Path, default=RESULTS / "serving_scale.json")
    args = parser.parse_args()
    record = begin("serving_scale", args.quick)
    copies = 30 if args.quick else args.copies
    n = 20 if args.quick else 150
    tmp = Path(tempfile.mkdtemp(prefix="serving_scale_"))
    try:
        real = args.real_project.resolve()
        sys.path.insert(0, str(REPO))
        from pricing_assets.core.bundle import promoted_stockcodes
        from pricing_assets.core.store import LocalArtifactStore

        real_codes = promoted_stockcodes(LocalArtifactStore(real / ".pricing" / "store"))
        catalogue = tmp / "catalogue"
        codes, build_s = build_catalogue(real, catalogue, copies)
        log(f"{copies} copies promoted in {build_s} s")
        runs = {
            "3 real bundles": measure("three", real, real_codes, None, n, tmp),
            f"{copies} bundles": measure("catalogue", catalogue, codes, None, n, tmp),
            f"{copies} bundles, 64 MiB bound": measure("catalogue_bounded", catalogue, codes, SMALL_BOUND, n, tmp),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    record.update(
        {
            "real_project": str(real),
            "copies": copies,
            "copies_of": real_codes,
            "promote_copies_s": build_s,
            "bins": BINS,
            "requests_per_figure": n,
            "server": "python -m serving (uvicorn, 1 process, in-process LRU response cache), 1 local client",
            "runs": runs,
        }
    )
    write_json(args.output, finish(record))
    from report import RENDERERS, render

    print(render("serving_scale", record) if "serving_scale" in RENDERERS else f"written: {args.output}")


if __name__ == "__main__":
    main()
