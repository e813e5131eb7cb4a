"""A two-stockcode backfill on the Celery executor: two real dagster-celery workers on the real RabbitMQ.

Both runs are launched at once, as `dagster job execute` processes with PRICING_EXECUTOR=celery, on a
PostgreSQL instance (deploy/dagster.yaml) that the runs and the workers share. Each test run gets a
RabbitMQ virtual host of its own, deleted afterwards, so leftovers of other runs never reach these
workers and none are left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, EventLogEntry

from pricing_assets.core.bundle import read_bundle
from pricing_assets.core.stockcodes import eligible_stockcodes, read_history
from pricing_assets.definitions import LINEAGE_JOB, build_resources
from pricing_assets.executors import executor_for
from pricing_assets.partitions import register_stockcodes
from pricing_assets.settings import Settings

from .components import require
from .conftest import ARTIFACTS, PROMOTED_STOCKCODES, REPO
from .deployment import fresh_database, instance_environment, production_home
from .helpers import materialize_raw

pytestmark = pytest.mark.slow

QUEUE = "pricing-lineage"
WORKERS = ("worker-a", "worker-b")
BIN = Path(sys.executable).parent
RUN_TIMEOUT_SECONDS = 420


@dataclass
class Backfill:
    """What the two runs left behind, read once and asserted on by several tests."""

    settings: Settings
    stockcodes: list[str]
    runs: dict[str, object]  # stockcode -> DagsterRun
    logs: dict[str, list[EventLogEntry]]  # stockcode -> the run's event log
    worker_pids: dict[str, set[int]]  # worker name -> its processes
    cli_output: dict[str, str]


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with fresh_database() as name:
        yield name


def _rabbitmqctl(*args: str) -> None:
    command = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    subprocess.run([command, "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    """A RabbitMQ virtual host of this test run's own, deleted afterwards with every queue and exchange in it.

    Nothing of another run (queued steps, reply queues) can reach these workers, and nothing is left behind.
    """
    require("rabbitmq")
    vhost = f"pricing-test-{uuid.uuid4().hex[:12]}"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"pyamqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory, database: str, broker: str) -> Iterator[dict[str, str]]:
    """The environment the runs and the workers share (this process too, while the module runs)."""
    root = tmp_path_factory.mktemp("celery")
    values = {
        **instance_environment(production_home(root / "dagster_home"), database),
        "PRICING_PROJECT_DIR": str(root / "project"),
        "PRICING_SYNTHETIC_PRODUCTS": "4",
        "PRICING_EXECUTOR": "celery",
        "PRICING_CELERY_BROKER": broker,
        "PRICING_CELERY_QUEUE": QUEUE,  # not dagster-celery's default, so the setting is what routes the steps
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in values.items():
            patch.setenv(key, value)
        yield {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def _worker_config(settings: Settings, folder: Path) -> Path:
    """The executor block for `dagster-celery worker start -y`: the same broker and backend as the runs."""
    path = folder / "celery_worker.yaml"
    config = {"execution": {"config": {"broker": settings.celery_broker, "backend": settings.celery_backend}}}
    path.write_text(yaml.safe_dump(config))
    return path


def _start_worker(name: str, config: Path, queue: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """One dagster-celery worker, one task at a time, in a process group of its own (killed as a whole)."""
    command = [
        str(BIN / "dagster-celery"),
        "worker",
        "start",
        "-A",
        "dagster_celery.app",
        "-y",
        str(config),
        "-q",
        queue,
        "-n",
        name,
        "--",
        "--concurrency=1",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for_workers(broker: str, procs: list[subprocess.Popen], logs: list[Path]) -> None:
    """Until every worker answers a ping through the broker (so both consume before any step is sent)."""
    from dagster_celery.make_app import make_app

    app = make_app({"broker": broker, "backend": "rpc://"})
    names = set(WORKERS)
    deadline = time.monotonic() + 120
    answered: set[str] = set()
    while time.monotonic() < deadline:
        for proc, log in zip(procs, logs, strict=True):
            if proc.poll() is not None:
                pytest.fail(f"celery worker exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        replies = app.control.ping(timeout=1.0) or []
        answered = {host.split("@")[0] for reply in replies for host in reply}
        if names <= answered:
            return
    pytest.fail(f"celery workers {names - answered} did not answer within 120 s")


def _stop(proc: subprocess.Popen) -> None:
    """Warm shutdown for the whole process group (the CLI, celery and its pool child), then kill what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=20)
    time.sleep(0.5)  # pool children leave just after their parent
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _group_pids(proc: subprocess.Popen) -> set[int]:
    """Every process of the worker's group: the CLI, the celery main process and its pool child."""
    found = subprocess.run(["ps", "-o", "pid=", "-s", str(proc.pid)], capture_output=True, text=True, check=False)
    return {int(pid) for pid in found.stdout.split()}


def _prepare_source(instance: DagsterInstance, settings: Settings) -> list[str]:
    """raw_transactions in the shared instance and store; the two most active eligible stockcodes the lineage
    promotes at a first promotion (conftest.PROMOTED_STOCKCODES) registered."""
    assert materialize_raw(instance, settings).success
    store = build_resources(settings)["store"].get_store()
    history = read_history(store)
    eligible = eligible_stockcodes(history, settings.min_history_rows, settings.min_history_days)
    chosen = [code for code in eligible if code in PROMOTED_STOCKCODES][:2]
    assert len(chosen) == 2
    register_stockcodes(instance, chosen)
    return chosen


def _launch_run(stockcode: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """The lineage job for one stockcode as the operator would launch it; its steps go to the Celery queue."""
    command = [
        str(BIN / "dagster"),
        "job",
        "execute",
        "-m",
        "pricing_assets.definitions",
        "-a",
        "defs",
        "-j",
        LINEAGE_JOB,
        "--tags",
        json.dumps({"dagster/partition": stockcode}),
    ]
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


@pytest.fixture(scope="module")
def backfill(environment: dict[str, str]) -> Iterator[Backfill]:
    """Two workers up, two runs launched at once, both awaited; the workers stopped whatever happens."""
    settings = Settings.from_env()
    logs_dir = ARTIFACTS / "celery"
    logs_dir.mkdir(parents=True, exist_ok=True)
    config = _worker_config(settings, Path(environment["DAGSTER_HOME"]))
    workers: list[subprocess.Popen] = []
    runs: list[subprocess.Popen] = []
    with DagsterInstance.get() as instance:
        stockcodes = _prepare_source(instance, settings)
        try:
            worker_logs = [logs_dir / f"{name}.log" for name in WORKERS]
            for name, log in zip(WORKERS, worker_logs, strict=True):
                workers.append(_start_worker(name, config, settings.celery_queue, environment, log))
            _wait_for_workers(settings.celery_broker, workers, worker_logs)
            run_logs = {code: logs_dir / f"run-{code}.log" for code in stockcodes}
            runs = [_launch_run(code, environment, run_logs[code]) for code in stockcodes]
            for proc in runs:
                proc.wait(timeout=RUN_TIMEOUT_SECONDS)
            worker_pids = {name: _group_pids(proc) for name, proc in zip(WORKERS, workers, strict=True)}
        finally:
            for proc in runs + workers:
                _stop(proc)
        by_code = {r.tags["dagster/partition"]: r for r in instance.get_runs() if r.job_name == LINEAGE_JOB}
        yield Backfill(
            settings=settings,
            stockcodes=stockcodes,
            runs=by_code,
            logs={code: instance.all_logs(run.run_id) for code, run in by_code.items()},
            worker_pids=worker_pids,
            cli_output={code: path.read_text(errors="replace") for code, path in run_logs.items()},
        )


def _message(entry: EventLogEntry) -> str:
    return entry.user_message or (entry.dagster_event.message if entry.dagster_event else "") or ""


def _worker_of(entry: EventLogEntry) -> str | None:
    """The Celery worker a step was handed to, from dagster-celery's "Executing steps ... in celery worker" event."""
    metadata = entry.dagster_event.engine_event_data.metadata if entry.dagster_event else {}
    worker = metadata.get("Celery worker")
    return worker.value if worker is not None else None


def test_both_runs_succeed_and_promote(backfill: Backfill):
    assert set(backfill.runs) == set(backfill.stockcodes)
    store = build_resources(backfill.settings)["store"].get_store()
    for code, run in backfill.runs.items():
        assert run.status == DagsterRunStatus.SUCCESS, backfill.cli_output[code][-4000:]
        bundle = read_bundle(store, code)  # verifies every file against the manifest
        assert bundle.manifest["run_id"] == run.run_id


def test_steps_ran_on_both_workers_never_in_the_runs_processes(backfill: Backfill):
    """Every step was taken by a worker, and both workers took some: the backfill was spread over them."""
    hosts: set[str] = set()
    pids: set[int] = set()
    for code, logs in backfill.logs.items():
        starts = [e for e in logs if e.dagster_event_type == DagsterEventType.STEP_START]
        handed = [e for e in logs if e.dagster_event_type == DagsterEventType.ENGINE_EVENT and _worker_of(e)]
        assert len(starts) > 10 and {e.step_key for e in handed} == {e.step_key for e in starts}, code
        hosts |= {_worker_of(e) for e in handed}
        pids |= {e.dagster_event.pid for e in starts}
    assert {host.split("@")[0] for host in hosts} == set(WORKERS)
    assert all(any(pid in group for group in backfill.worker_pids.values()) for pid in pids)
    assert all(pids & group for group in backfill.worker_pids.values())


def test_settings_choose_the_celery_executor_and_its_queue(backfill: Backfill):
    assert executor_for(backfill.settings).name == "celery"
    for logs in backfill.logs.values():
        submitted = [_message(e) for e in logs if "Submitting celery task" in _message(e)]
        assert submitted and all(f'queue "{backfill.settings.celery_queue}"' in message for message in submitted)
