"""Shared fixtures: isolated settings, an ephemeral Dagster instance, moto's S3 server."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

# Small tuning budgets for the whole suite, set before pricing_assets reads its settings (subprocesses
# inherit them). The defaults are exercised by `make run` and the benchmarks.
for _name, _value in {
    "PRICING_DFN_TRIALS": "2",
    "PRICING_DFN_MAX_EPOCHS": "15",
    "PRICING_BACKUP_TRIALS": "3",
    "PRICING_SHAP_BACKGROUND_ROWS": "50",
    "PRICING_SHAP_EXPLAIN_ROWS": "60",
}.items():
    os.environ.setdefault(_name, _value)

import boto3  # noqa: E402
import pytest  # noqa: E402

from pricing_assets.settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
UCI_DEV = Settings.from_env().dev_data  # PRICING_DEV_DATA; tests that need it call components.require("dev-data")
ARTIFACTS = REPO / "test-artifacts"


def run_pricing(project: Path, *args: str) -> subprocess.CompletedProcess:
    """``pricing run`` in its own process against ``project`` (the 4-product synthetic source)."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update({"PRICING_PROJECT_DIR": str(project), "PRICING_SYNTHETIC_PRODUCTS": "4"})
    pricing = Path(sys.executable).parent / "pricing"
    return subprocess.run([str(pricing), "run", *args], env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def promoted_project(tmp_path_factory) -> Path:
    """A project folder whose store holds the promoted bundles of the two most active products.

    Session-wide and defined here, so the serving and the reliability tests share one real
    ``pricing run --top 2`` (about a minute) instead of paying for it once per folder.
    """
    project = tmp_path_factory.mktemp("served")
    proc = run_pricing(project, "--top", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return project


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings that write only below a temporary project folder."""
    return Settings.from_env({"PRICING_PROJECT_DIR": str(tmp_path), "PRICING_SYNTHETIC_PRODUCTS": "4"})


def free_port() -> int:
    """A loopback port that is free now, chosen below the kernel's ephemeral range.

    Asking the kernel for port 0 hands out an ephemeral port, the very kind it gives every outgoing
    connection on the machine: between our closing it and a server binding it, another process's
    client could take it. A random port below that range is only ever taken by an explicit bind, and
    servers that can report their port (the API) bind port 0 themselves instead
    (``serving.conftest.api_process``).
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(100):
        port = random.SystemRandom().randrange(20000, low)  # not the seeded global: parallel runs differ
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port between 20000 and {low}")


@pytest.fixture(scope="session")
def moto_s3():
    """moto's S3 server on 127.0.0.1, as a separate process (the real HTTP path, not a mock)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("moto server did not start on 127.0.0.1")
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def s3_bucket(moto_s3: str, request: pytest.FixtureRequest) -> str:
    name = "pricing-" + request.node.name.lower().replace("_", "-")[:40]
    boto3.client("s3", endpoint_url=moto_s3).create_bucket(Bucket=name)
    return name
