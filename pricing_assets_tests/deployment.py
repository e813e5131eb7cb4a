"""A team deployment for end-to-end tests: dagster-webserver and dagster-daemon on deploy/dagster.yaml.

Everything is real: a fresh PostgreSQL database for runs, events and schedules, the queued run
coordinator of deploy/dagster.yaml, and both servers as separate processes on 127.0.0.1, started
exactly as deploy/OPERATIONS.md tells an operator to start them. Each server runs in a process
group of its own, so teardown also reaches the code servers and run workers they spawn.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg2

from .components import require
from .conftest import REPO, free_port

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
BIN = Path(sys.executable).parent
LOCATION = "pricing_assets"
REPOSITORY = "__repository__"  # the repository name Dagster gives a Definitions object
STARTUP_SECONDS = 180.0  # both servers import the whole code location (torch, evidently, shap...)

REPOSITORIES_QUERY = """
{ repositoriesOrError { __typename ... on RepositoryConnection { nodes { name location { name } } } } }
"""


@dataclass(frozen=True)
class Deployment:
    """A running webserver + daemon; ``graphql`` talks to the webserver like the UI does."""

    url: str
    dagster_home: Path
    database: str
    logs: Path

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None, timeout: float = 60.0) -> dict:
        """POST a GraphQL document; GraphQL-level errors raise, so a typo in a query never passes silently."""
        answer = httpx.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout)
        answer.raise_for_status()
        body = answer.json()
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def log_tail(self, characters: int = 4000) -> str:
        """The end of both servers' output, for failure messages."""
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-characters:]}"
            for path in sorted(self.logs.glob("*.log"))
        )


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A PostgreSQL database of its own, dropped (with any leftover connections) afterwards."""
    require("postgresql")
    name = f"pricing_e2e_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(dbname="postgres", **PG)
    admin.autocommit = True
    try:
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
        try:
            yield name
        finally:
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def production_home(folder: Path) -> Path:
    """``folder`` made a DAGSTER_HOME holding deploy/dagster.yaml, as an operator sets one up."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "deploy" / "dagster.yaml", folder / "dagster.yaml")
    return folder


def instance_environment(dagster_home: Path, database: str, port: int = PG["port"]) -> dict[str, str]:
    """What deploy/dagster.yaml reads: DAGSTER_HOME and the DAGSTER_PG_* connection settings."""
    return {
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_PG_HOST": PG["host"],
        "DAGSTER_PG_PORT": str(port),
        "DAGSTER_PG_USER": PG["user"],
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": database,
    }


@contextlib.contextmanager
def process_groups(
    commands: Mapping[str, list[str]], env: Mapping[str, str], logs: Path
) -> Iterator[list[subprocess.Popen]]:
    """Start each command as the leader of a new process group (output in ``logs/<name>.log``); stop all on exit.

    A group holds the server and everything it spawned (code servers, run workers), so stopping
    the group leaves nothing behind. All groups get SIGTERM at once (the servers log and stop on
    it), then SIGKILL whatever is still alive after the grace period: a code server waits up to
    60 s for open RPC streams, and nothing in a disposable deployment is worth that wait.
    """
    procs: list[subprocess.Popen] = []
    try:
        for name, command in commands.items():
            with (logs / f"{name}.log").open("wb") as output:  # the child keeps its own copy of the descriptor
                procs.append(
                    subprocess.Popen(
                        command,
                        cwd=REPO,
                        env=dict(env),
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        yield procs
    finally:
        stop_groups(procs)


def stop_groups(procs: list[subprocess.Popen], grace_seconds: float = 5.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline and any(_group_alive(proc) for proc in procs):
            time.sleep(0.2)
        if not any(_group_alive(proc) for proc in procs):
            return


def _group_alive(proc: subprocess.Popen) -> bool:
    proc.poll()  # reap the leader so that it does not linger as a zombie
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    return True


def create_schema(env: Mapping[str, str], log: Path) -> None:
    """``dagster instance migrate`` once, before the servers: both would otherwise race to create the tables."""
    with log.open("wb") as output:
        subprocess.run(
            [str(BIN / "dagster"), "instance", "migrate"],
            cwd=REPO,
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=120,
        )


def wait_until_ready(deployment: Deployment, processes: list[subprocess.Popen]) -> None:
    """Until the webserver answers GraphQL with our code location loaded (not merely listening)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        for proc in processes:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}\n{deployment.log_tail()}")
        with contextlib.suppress(httpx.HTTPError, AssertionError):
            answer = deployment.graphql(REPOSITORIES_QUERY, timeout=5.0)["repositoriesOrError"]
            if any(node["location"]["name"] == LOCATION for node in answer.get("nodes", [])):
                return
        time.sleep(1.0)
    raise RuntimeError(f"the webserver did not load {LOCATION} in {STARTUP_SECONDS:.0f} s\n{deployment.log_tail()}")


@contextlib.contextmanager
def team_deployment(workdir: Path, code_location_env: Mapping[str, str]) -> Iterator[Deployment]:
    """Start webserver + daemon on a fresh PostgreSQL database; tear everything down afterwards.

    ``code_location_env`` (PRICING_* settings, AWS credentials) is added to this process's
    environment and handed to both servers, and from them to every run worker: that is how the
    suite's small tuning budgets reach runs the daemon launches.
    """
    dagster_home = production_home(workdir / "dagster_home")
    logs = workdir / "logs"
    logs.mkdir()
    port = free_port()
    with fresh_database() as database:
        env = {**os.environ, **instance_environment(dagster_home, database), **code_location_env}
        deployment = Deployment(f"http://127.0.0.1:{port}", dagster_home, database, logs)
        create_schema(env, logs / "migrate.log")
        webserver = [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
        daemon = [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]
        with process_groups({"webserver": webserver, "daemon": daemon}, env, logs) as procs:
            wait_until_ready(deployment, procs)
            yield deployment
