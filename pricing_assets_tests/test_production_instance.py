"""deploy/dagster.yaml loads against the real PostgreSQL on loopback, with its limits and retries."""

import psycopg2
import pytest
from dagster import DagsterInstance
from dagster._core.run_coordinator import QueuedRunCoordinator

from .deployment import PG, fresh_database, instance_environment, production_home


@pytest.fixture
def database():
    with fresh_database() as name:
        yield name


def test_production_instance_on_postgres(tmp_path, database, monkeypatch):
    for key, value in instance_environment(production_home(tmp_path), database).items():
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
