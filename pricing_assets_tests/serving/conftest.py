"""The API started as a real process on 127.0.0.1 (bundles come from the session's `promoted_project`)."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ..conftest import run_pricing  # noqa: F401 - run_pricing is re-exported for the serving tests

STARTED = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


@dataclass(frozen=True)
class ApiServer:
    """A running ``python -m serving``: its base URL, its process and the file its output goes to."""

    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def api_process(project: Path, **env_overrides: str) -> Iterator[ApiServer]:
    """``python -m serving`` on a loopback port of its own, its output in a file (a pipe nobody reads
    would fill after a few hundred access-log lines and block the server).

    The server binds port 0 and the kernel picks the port, which uvicorn reports in its start-up
    line: no window between choosing a port and binding it in which another process could take it.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRICING_") and k != "REDIS_URL"}
    env.update({"PRICING_PROJECT_DIR": str(project), "PRICING_RELOAD_SECONDS": "0", **env_overrides})
    log_fd, log_name = tempfile.mkstemp(prefix="pricing-api-", suffix=".log")
    proc = subprocess.Popen(
        [sys.executable, "-m", "serving", "--host", "127.0.0.1", "--port", "0"],
        env=env,
        stdout=log_fd,
        stderr=subprocess.STDOUT,
    )
    os.close(log_fd)
    log_path = Path(log_name)
    deadline = time.time() + 60
    try:
        while True:
            bound = STARTED.search(log_path.read_text(errors="replace"))
            if bound:
                server = ApiServer(f"http://127.0.0.1:{bound.group(1)}", proc, log_path)
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                        break
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"the API did not start: {log_path.read_text(errors='replace')}")
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log_path.unlink(missing_ok=True)


@contextlib.contextmanager
def api_server(project: Path, **env_overrides: str) -> Iterator[str]:
    """``python -m serving`` on a free loopback port; yields its base URL."""
    with api_process(project, **env_overrides) as server:
        yield server.url


@dataclass(frozen=True)
class ElasticBundle:
    """A copy of a promoted project in which one bundle's price response is elastic (a move the data supports)."""

    project: Path
    code: str
    unit_cost: float  # with this cost, the margin optimum lies inside the default guardrail, above the current list


def elastic_copy(
    promoted_project: Path, dest: Path, elasticity: float = -3.0, above: float = 1.08, standard_error: float = 0.05
) -> ElasticBundle:
    """``promoted_project``'s store copied to ``dest`` with its first bundle promoted again on an elastic response.

    The synthetic source's demand barely responds to the list price, so every recommendation made on it
    raises the price to the guardrail's edge; this one is what a product with an elasticity of
    ``elasticity`` (own evidence, ``standard_error``: well measured by default) keeps. Its stored
    recommendation is remade from the new inputs, as the asset would have made it. The unit cost
    returned puts the margin optimum near ``above`` x the current list
    (``cost x e / (1 + e) x units / paid`` for this mix of list, band and guest lines).
    """
    import dataclasses
    import json
    import shutil

    from pricing_assets.core.bundle import read_bundle, write_bundle
    from pricing_assets.core.recommendation_inputs import RecommendationInputs, served_part
    from pricing_assets.core.store import LocalArtifactStore

    shutil.copytree(promoted_project / ".pricing" / "store", dest / ".pricing" / "store")
    store = LocalArtifactStore(dest / ".pricing" / "store")
    code = sorted(p.name for p in (dest / ".pricing" / "store" / "promoted").iterdir())[0]
    bundle = read_bundle(store, code)
    stored = json.loads(bundle.files["recommendation.json"])
    inputs = dataclasses.replace(
        RecommendationInputs.from_dict(stored["inputs"]),
        elasticity=elasticity,
        standard_error=standard_error,
        own_weight=1.0,
    )
    answer = inputs.recommend()
    files = dict(bundle.files)
    files["recommendation.json"] = json.dumps({**answer, "stock_code": code, "inputs": inputs.to_dict()}).encode()
    added = ("stock_code", "version", "lineage_id", "run_id", "artifacts")  # write_bundle adds these
    manifest = {k: v for k, v in bundle.manifest.items() if k not in added}
    manifest["recommendation"] = {"stock_code": code, **served_part(answer)}
    write_bundle(store, code, files, manifest, "e1a571c0-0000-0000-0000-000000000000")
    mix = inputs.mix
    paid = mix.regular_units + mix.band_units * mix.band_ratio + mix.guest_units * mix.guest_ratio
    cost = above * mix.current_list_price * (1 + elasticity) / elasticity * paid / mix.units
    return ElasticBundle(dest, code, round(cost, 4))
