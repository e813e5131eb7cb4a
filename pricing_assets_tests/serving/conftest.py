"""Bundles made by a real `pricing run`, and the API started as a real process on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ..conftest import free_port

BIN = Path(sys.executable).parent


def run_pricing(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update({"PRICING_PROJECT_DIR": str(project), "PRICING_SYNTHETIC_PRODUCTS": "4"})
    return subprocess.run([str(BIN / "pricing"), "run", *args], env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def promoted_project(tmp_path_factory) -> Path:
    """A project folder whose store holds the promoted bundles of the two most active products."""
    project = tmp_path_factory.mktemp("served")
    proc = run_pricing(project, "--top", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return project


@contextlib.contextmanager
def api_server(project: Path, **env_overrides: str):
    """``python -m serving`` on a free loopback port; yields its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRICING_") and k != "REDIS_URL"}
    env.update({"PRICING_PROJECT_DIR": str(project), "PRICING_RELOAD_SECONDS": "0", **env_overrides})
    proc = subprocess.Popen(
        [sys.executable, "-m", "serving", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    try:
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"the API did not start: {proc.stdout.read() if proc.stdout else ''}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
