"""The real parts some tests need (a browser, servers, the real data file), and what their absence means.

`make test` is what CI runs, so a test that quietly skips because Chromium or PostgreSQL is missing
would let CI go green without it. Hence one rule, applied here for every component: when ``CI`` is
set, a missing component fails the test with the command that provides it; elsewhere (a laptop, a
fresh clone) the test is skipped and the skip reason is that one command (pytest's ``-ra`` summary
prints it).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pricing_assets.settings import Settings


@dataclass(frozen=True)
class Component:
    what: str  # named in the message, e.g. "Chromium (headless, for the page and UI tests)"
    enable: str  # the one command that provides it
    present: Callable[[], bool]


def _listens(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def dev_data_file() -> Path:
    """The real UCI file: ``PRICING_DEV_DATA``, by default ``../shared/data/online_retail_dev.parquet``."""
    return Settings.from_env().dev_data


COMPONENTS = {
    "chromium": Component(
        "Chromium (headless, renders the serving page and the Dagster UI)",
        "apt-get install -y chromium",
        lambda: chromium_path() is not None,
    ),
    "postgresql": Component(
        "PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth)",
        "apt-get install -y postgresql && service postgresql start",
        lambda: _listens(5432),
    ),
    "postgresql-server-binaries": Component(
        "PostgreSQL's server binaries (initdb, pg_ctl under /usr/lib/postgresql/*/bin)",
        "apt-get install -y postgresql",
        lambda: any(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
    ),
    "redis-server": Component(
        "redis-server (the tests start private ones)",
        "apt-get install -y redis-server",
        lambda: shutil.which("redis-server") is not None,
    ),
    "rabbitmq": Component(
        "RabbitMQ on 127.0.0.1:5672 with rabbitmqctl",
        "apt-get install -y rabbitmq-server && service rabbitmq-server start",
        lambda: (shutil.which("rabbitmqctl") or Path("/usr/sbin/rabbitmqctl").exists()) and _listens(5672),
    ),
    "dev-data": Component(
        "the real data file",
        "export PRICING_DEV_DATA=/path/to/online_retail_dev.parquet (the UCI Online Retail extract)",
        lambda: dev_data_file().is_file(),
    ),
}


def missing_message(name: str) -> str:
    component = COMPONENTS[name]
    what = f"{component.what} ({dev_data_file()})" if name == "dev-data" else component.what
    return f"{what} is missing; to run this test: {component.enable}"


def require(name: str) -> None:
    """Skip (outside CI) or fail (``CI`` set) the calling test unless component ``name`` is there."""
    if COMPONENTS[name].present():
        return
    message = missing_message(name)
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so this is a failure, not a skip: {message}", pytrace=False)
    pytest.skip(message)
