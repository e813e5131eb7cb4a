"""Shared fixtures: isolated settings, an ephemeral Dagster instance, moto's S3 server."""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

# Small tuning budgets for the whole suite, set before pricing_assets reads its settings (subprocesses
# inherit them). The defaults are exercised by `make run` and the benchmarks.
TEST_BUDGETS = {
    "PRICING_DFN_TRIALS": "2",
    "PRICING_DFN_MAX_EPOCHS": "15",
    "PRICING_BACKUP_TRIALS": "3",
    "PRICING_SHAP_BACKGROUND_ROWS": "50",
    "PRICING_SHAP_EXPLAIN_ROWS": "60",
}
for _name, _value in TEST_BUDGETS.items():
    os.environ.setdefault(_name, _value)

import boto3  # noqa: E402
import pytest  # noqa: E402

from pricing_assets.settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
UCI_DEV = Settings.from_env().dev_data  # PRICING_DEV_DATA; tests that need it call components.require("dev-data")
ARTIFACTS = REPO / "test-artifacts"
# The products of the 4-product synthetic source (seed 7) that the lineage promotes at a first promotion with the
# suite's tuning budgets, every check passed (the tests rely on these two; what the others, 67891 and 82804, are
# judged is not relied on). See helpers.PROMOTED_RANK.
PROMOTED_STOCKCODES = ("86140", "63755")


def run_pricing(project: Path, *args: str) -> subprocess.CompletedProcess:
    """``pricing run`` in its own process against ``project`` (the 4-product synthetic source)."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update({"PRICING_PROJECT_DIR": str(project), "PRICING_SYNTHETIC_PRODUCTS": "4"})
    pricing = Path(sys.executable).parent / "pricing"
    return subprocess.run([str(pricing), "run", *args], env=env, capture_output=True, text=True, timeout=900)


def shared_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary folder every process of this pytest run sees: under pytest-xdist each worker has a
    base folder of its own (``.../pytest-N/popen-gwK``) and they share its parent."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """An advisory lock across the processes of this run (pytest-xdist workers), released on exit."""
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def promoted_project(tmp_path_factory) -> Path:
    """A project folder whose store holds the promoted bundles of two products (PROMOTED_STOCKCODES).

    Session-wide and defined here, so the serving and the reliability tests share one real
    ``pricing run --stockcodes 86140,63755`` (about a minute) instead of paying for it once per folder. Under
    pytest-xdist the first worker that needs it runs it and the others wait for it and use the same
    folder (read-only: tests that change a project copy it first); a failed run fails every test that
    needs it with the run's output, without running again.
    """
    shared = shared_temp(tmp_path_factory)
    project, outcome = shared / "served", shared / "served.outcome"
    with exclusive(shared / "served.lock"):
        if not outcome.exists():
            project.mkdir()
            proc = run_pricing(project, "--stockcodes", ",".join(PROMOTED_STOCKCODES), "--strict")
            outcome.write_text("" if proc.returncode == 0 else f"exit {proc.returncode}\n{proc.stdout}{proc.stderr}")
    failure = outcome.read_text()
    assert not failure, f"pricing run --stockcodes {','.join(PROMOTED_STOCKCODES)} did not promote both: {failure}"
    return project


def isolated_settings(project: Path, **environ: str) -> Settings:
    """Settings that write only below ``project``, not read from the environment, except the suite's tuning
    budgets (TEST_BUDGETS as the environment has them): the jobs of a location built from these Settings
    run with them. ``environ`` adds PRICING_* variables."""
    budgets = {name: os.environ[name] for name in TEST_BUDGETS}
    return Settings.from_env({**budgets, "PRICING_PROJECT_DIR": str(project), **environ})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings that write only below a temporary project folder (the 4-product synthetic source)."""
    return isolated_settings(tmp_path, PRICING_SYNTHETIC_PRODUCTS="4")


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


SHARED_FIXTURE_SCOPES = ('scope="module"', 'scope="class"')


def shares_fixtures(module: Path) -> bool:
    """Whether a test module defines a fixture that its tests share (module or class scope)."""
    text = module.read_text() if module.is_file() else ""
    return any(scope in text for scope in SHARED_FIXTURE_SCOPES)


@pytest.hookimpl(optionalhook=True)  # the hook exists only while pytest-xdist is loaded
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """pytest-xdist's ``load`` distribution (``-n N``, pyproject.toml), except that the tests of a module
    defining a module- or class-scoped fixture (a deployment, a benchmark run, an API process) go to one
    worker together, so the fixture is built once, as in a serial run. Every other test goes, on its own,
    to whichever worker is free. (``--dist loadgroup`` would do this with marks, but pytest-xdist 3.8
    cannot give a mark's group to pytest 9's node ids.)"""
    if config.getoption("dist") != "load":
        return None  # another --dist asked for explicitly
    from xdist.scheduler import LoadScopeScheduling

    grouped: dict[str, bool] = {}

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            if module not in grouped:
                grouped[module] = shares_fixtures(config.rootpath / module)
            return module if grouped[module] else nodeid

    config.option.loadscopereorder = False  # collection order (below): the slow modules first
    return SharedFixtureScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, the modules with a ``slow`` test are handed out first (in their usual order),
    so the long end-to-end tests start early and the many short ones fill the gaps at the end."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    slow_modules = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_modules)  # stable: the order within stays


TIMING_NICENESS = -10  # CFS then gives these processes about nine times the CPU share of a default one


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """A test marked ``timing`` asserts a rate or a count per second of what it starts (the API, a load
    generator, a thread): its body, and every process it starts, runs at a higher CPU priority than the
    rest of the suite, so the other pytest-xdist workers' model training on the same cores does not
    change what it measures. Raising the priority needs root (as in CI) or CAP_SYS_NICE; without it the
    test runs at the usual priority (run it alone, ``-n 0``, on a busy machine)."""
    if item.get_closest_marker("timing") is None:
        return (yield)
    before = os.getpriority(os.PRIO_PROCESS, 0)
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, 0, TIMING_NICENESS)  # this thread, and what it starts from now on
    try:
        return (yield)
    finally:
        os.setpriority(os.PRIO_PROCESS, 0, before)
