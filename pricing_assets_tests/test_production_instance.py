"""deploy/dagster.yaml loads against the real PostgreSQL on loopback, with its limits and retries."""

import shutil
import uuid

import psycopg2
import pytest
from dagster import DagsterInstance
from dagster._core.run_coordinator import QueuedRunCoordinator

from .conftest import REPO

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


@pytest.fixture
def database():
    name = f"pricing_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(dbname="postgres", **PG)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    yield name
    admin.cursor().execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


def test_production_instance_on_postgres(tmp_path, database, monkeypatch):
    shutil.copy(REPO / "deploy" / "dagster.yaml", tmp_path / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(tmp_path),
        "DAGSTER_PG_HOST": PG["host"],
        "DAGSTER_PG_PORT": str(PG["port"]),
        "DAGSTER_PG_USER": PG["user"],
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": database,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, QueuedRunCoordinator)
        settings = instance.get_concurrency_config().run_queue_config
        assert settings.max_concurrent_runs == 8
        limits = {limit["key"]: limit for limit in settings.tag_concurrency_limits}
        assert limits["dagster/partition"]["limit"] == 1 and limits["dagster/backfill"]["limit"] == 6
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        instance.add_dynamic_partitions("stockcode", ["85123A"])
    conn = psycopg2.connect(dbname=database, **PG)
    cursor = conn.cursor()
    cursor.execute("select partitions_def_name, partition from dynamic_partitions")
    assert cursor.fetchall() == [("stockcode", "85123A")]  # it really went to PostgreSQL
    conn.close()
