"""The embedded instance's SQLite connections take PRICING_SQLITE_SYNCHRONOUS from the code location's Settings."""

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance

from pricing_assets.definitions import build_definitions
from pricing_assets.instance_sqlite import use_sqlite_synchronous
from pricing_assets.settings import current_settings

# SQLite's PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL
LEVELS = {"off": 0, "normal": 1, "full": 2}


def _synchronous(url: str) -> int:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        return int(connection.execute(sa.text("PRAGMA synchronous")).scalar())


def test_a_code_location_sets_how_sqlite_syncs(tmp_path):
    url = f"sqlite:///{tmp_path / 'events.db'}"
    try:
        for mode, level in LEVELS.items():
            build_definitions(current_settings().with_(sqlite_synchronous=mode))
            assert _synchronous(url) == level, mode
    finally:
        use_sqlite_synchronous("off")  # the default every other test's code location sets again


def test_the_embedded_instance_writes_its_events_unsynced(tmp_path):
    """Dagster's own SQLite storage (a connection per event) gets the setting, not only our engines."""
    build_definitions(current_settings().with_(sqlite_synchronous="off"))
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        storage = instance.run_storage
        with storage.connect() as connection:
            assert int(connection.execute(sa.text("PRAGMA synchronous")).scalar()) == 0


def test_an_unknown_mode_names_the_variable():
    with pytest.raises(ValueError, match="PRICING_SQLITE_SYNCHRONOUS"):
        current_settings().with_(sqlite_synchronous="fast")
    with pytest.raises(ValueError, match="PRICING_SQLITE_SYNCHRONOUS"):
        use_sqlite_synchronous("fast")
