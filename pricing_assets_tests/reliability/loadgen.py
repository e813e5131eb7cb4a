"""A steady-rate load generator for the serving API (httpx + asyncio), run as its own process.

``python -m pricing_assets_tests.reliability.loadgen --url http://127.0.0.1:8000 --codes 85123A,22423
--rate 25 --seconds 120 --out load.json``

Requests start on a fixed schedule (open loop: a slow answer does not slow the schedule down, as
with real clients), so latency under load is measured honestly. The mix: most requests repeat a
handful of curves per stockcode (served from the cache after their first time), the rest ask for
a curve nobody asked for before (computed), and a few read the lineage. The summary says how
many failed (any status but 200, or no answer), the latency percentiles overall and by cache
hit or miss, and whether the schedule kept up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np


@dataclass
class Outcome:
    started: float  # seconds since the start of the run
    late: float  # seconds between the request's scheduled start and its actual start
    seconds: float
    status: int  # 0 when no answer came back
    kind: str  # hit, miss, lineage or the error's name


def request_plan(codes: list[str], cached_share: float, rng: random.Random) -> tuple[str, dict]:
    """The next request: a repeated curve, a fresh one, or a lineage read."""
    code = rng.choice(codes)
    draw = rng.random()
    if draw < 0.05:
        return f"/v1/lineage/{code}", {}
    if draw < 0.05 + cached_share:
        return f"/v1/predict-price/{code}", {"num_price_bins": 20 + 10 * rng.randrange(8)}
    low = round(rng.uniform(0.5, 3.0), 4)
    return f"/v1/predict-price/{code}", {
        "unitprice_min": low,
        "unitprice_max": round(low + rng.uniform(0.5, 5.0), 4),
        "num_price_bins": rng.randrange(20, 200),
    }


async def one(client: httpx.AsyncClient, path: str, params: dict, t0: float, scheduled: float) -> Outcome:
    started = time.perf_counter()
    late = max(0.0, started - t0 - scheduled)
    try:
        response = await client.get(path, params=params)
        kind = response.headers.get("x-cache", "lineage")
        status = response.status_code
    except httpx.HTTPError as exc:
        kind, status = type(exc).__name__, 0
    return Outcome(started - t0, late, time.perf_counter() - started, status, kind)


async def run(url: str, codes: list[str], rate: float, seconds: float, cached_share: float, seed: int) -> dict:
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        t0 = time.perf_counter()
        tasks = []
        for i in range(int(rate * seconds)):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            path, params = request_plan(codes, cached_share, rng)
            tasks.append(asyncio.create_task(one(client, path, params, t0, i / rate)))
        outcomes = await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
    return summarise(outcomes, elapsed, rate)


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ms = np.asarray(values) * 1000
    return {f"p{q}_ms": round(float(np.percentile(ms, q)), 2) for q in (50, 90, 99)} | {
        "max_ms": round(float(ms.max()), 2)
    }


LATE_SECONDS = 0.1  # a request that starts this much after its slot is late


def summarise(outcomes: list[Outcome], elapsed: float, rate: float) -> dict:
    """What the run achieved, not what it asked for.

    ``achieved_rate_per_s`` counts answered requests (status 200) over the time from the first slot
    to the last answer: a server that falls behind stretches that time or fails requests, and the rate
    drops below the target. ``late_starts`` counts requests that started more than 100 ms after their
    slot (the generator or the machine fell behind: the load was not the one asked for).
    """
    errors = [o for o in outcomes if o.status != 200]
    by_kind: dict[str, list[float]] = {}
    for o in outcomes:
        by_kind.setdefault(o.kind, []).append(o.seconds)
    return {
        "requests": len(outcomes),
        "errors": len(errors),
        "error_examples": [{"status": o.status, "kind": o.kind} for o in errors[:10]],
        "target_rate_per_s": rate,
        "achieved_rate_per_s": round((len(outcomes) - len(errors)) / elapsed, 2),
        "seconds": round(elapsed, 1),
        "late_starts": sum(o.late > LATE_SECONDS for o in outcomes),
        "start_lateness": percentiles([o.late for o in outcomes]),
        "latency": percentiles([o.seconds for o in outcomes]),
        "by_kind": {kind: {"count": len(v), **percentiles(v)} for kind, v in sorted(by_kind.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--codes", required=True, help="comma-separated promoted stockcodes")
    parser.add_argument("--rate", type=float, default=25.0, help="requests started per second")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--cached-share", type=float, default=0.7, help="share of requests that repeat a curve")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    summary = asyncio.run(run(args.url, args.codes.split(","), args.rate, args.seconds, args.cached_share, args.seed))
    args.out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
