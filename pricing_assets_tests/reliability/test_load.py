"""A bounded steady load on loopback: the API (uvicorn, its own process, a Redis cache of its own)
under a fixed request rate from a generator in another process, for ``PRICING_LOAD_SECONDS``
(120 s in the suite; RELIABILITY.md quotes a 300 s run).

It proves: zero failed requests at that rate with a mix of cached and computed curves, answers at
(at least 95 % of) that rate and starts on schedule (so the load was the one asked for), and a
server whose resident memory stays flat after warm-up (sampled every second). Latency
percentiles are reported (printed and written to ``test-artifacts/load.json``), not asserted:
they depend on the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from ..conftest import ARTIFACTS, REPO
from ..serving.conftest import api_process
from .support import promoted_codes, redis_process, rss_bytes

pytestmark = [pytest.mark.slow, pytest.mark.reliability, pytest.mark.timing]
LOAD_SECONDS = float(os.environ.get("PRICING_LOAD_SECONDS", "120"))
RATE = float(os.environ.get("PRICING_LOAD_RATE", "25"))
# Resident memory may grow by this much between the end of warm-up (the first third of the run)
# and the end: generous, because allocator arenas of the thread pool settle slowly; a leak of even
# a small curve per request (30 kB x 25/s) would pass it within a minute.
RSS_GROWTH_LIMIT = 64 * 2**20


def sample_memory(pid: int, generator: subprocess.Popen, started: float) -> list[tuple[float, int]]:
    """RSS of the server every second until the generator exits."""
    samples = []
    while generator.poll() is None:
        samples.append((time.monotonic() - started, rss_bytes(pid)))
        time.sleep(1.0)
    return samples


def test_steady_load_has_no_errors_and_flat_memory(promoted_project, tmp_path):
    codes = promoted_codes(promoted_project)
    out = tmp_path / "load.json"
    command = [
        sys.executable,
        "-m",
        "pricing_assets_tests.reliability.loadgen",
        "--codes",
        ",".join(codes),
        "--rate",
        str(RATE),
        "--seconds",
        str(LOAD_SECONDS),
        "--out",
        str(out),
    ]
    with (
        redis_process(tmp_path) as redis_url,
        api_process(promoted_project, REDIS_URL=redis_url, PRICING_RELOAD_SECONDS="5") as server,
    ):
        started = time.monotonic()
        generator = subprocess.Popen([*command, "--url", server.url], cwd=REPO)
        try:
            samples = sample_memory(server.process.pid, generator, started)
            generator.wait(timeout=LOAD_SECONDS + 120)
        finally:
            if generator.poll() is None:
                generator.kill()
                generator.wait()
    assert generator.returncode == 0
    summary = json.loads(out.read_text())
    warm = [rss for t, rss in samples if t >= LOAD_SECONDS / 3]
    summary["server_rss_mb"] = {
        "start": round(samples[0][1] / 2**20, 1),
        "end_of_warm_up": round(warm[0] / 2**20, 1),
        "max_after_warm_up": round(max(warm) / 2**20, 1),
        "end": round(samples[-1][1] / 2**20, 1),
        "samples": len(samples),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "load.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    assert summary["errors"] == 0, summary["error_examples"]
    # The load that was asked for was the load that happened: answers kept pace with the schedule
    # (a server that falls behind stretches the run and lowers the rate), and starts kept their slots.
    assert summary["achieved_rate_per_s"] >= 0.95 * RATE, summary
    assert summary["late_starts"] <= 0.01 * summary["requests"], summary["start_lateness"]
    assert summary["by_kind"]["hit"]["count"] > 0 and summary["by_kind"]["miss"]["count"] > 0
    assert max(warm) - warm[0] <= RSS_GROWTH_LIMIT, summary["server_rss_mb"]
