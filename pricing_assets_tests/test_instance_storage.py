"""The embedded instance's SQLite storages: an engine per database file, Dagster's own layout on disk."""

import os
import shutil
import subprocess
import sys

import pytest
from dagster import AssetKey, AssetMaterialization, DagsterInstance, job, op
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from sqlalchemy import event
from sqlalchemy.engine import Engine

from pricing_assets import instance_storage
from pricing_assets.cli import _prepare_dagster_home
from pricing_assets.instance_storage import (
    EMBEDDED_DAGSTER_YAML,
    MARKER,
    TELEMETRY_ONLY_YAML,
    CachedEngineSqliteEventLogStorage,
    CachedEngineSqliteRunStorage,
    EmbeddedInstance,
    EngineCache,
)
from pricing_assets.settings import current_settings


@op
def _materialise(context) -> None:
    for index in range(5):
        context.log_event(AssetMaterialization(asset_key=AssetKey(["probe", str(index)])))


@job
def _probe_job() -> None:
    _materialise()


@pytest.fixture
def project_home(tmp_path, monkeypatch):
    """The project's own DAGSTER_HOME, as ``pricing`` prepares it (no DAGSTER_HOME of the user's)."""
    monkeypatch.setenv("DAGSTER_HOME", "unset-below")  # so monkeypatch restores the variable's absence
    monkeypatch.delenv("DAGSTER_HOME")
    return _prepare_dagster_home(current_settings().with_(project_dir=tmp_path))


def _plain_instance(home):
    """Dagster's default storages over ``home`` (a dagster.yaml that names none)."""
    (home / "dagster.yaml").write_text(TELEMETRY_ONLY_YAML)
    return DagsterInstance.from_config(str(home))


def test_the_project_home_uses_these_storages_in_dagsters_layout(project_home):
    with DagsterInstance.get() as instance:
        assert isinstance(instance, EmbeddedInstance)
        assert isinstance(instance.event_log_storage, CachedEngineSqliteEventLogStorage)
        assert isinstance(instance.run_storage, CachedEngineSqliteRunStorage)
        assert _probe_job.execute_in_process(instance=instance).success
    assert (project_home / "history" / "runs.db").exists()
    assert (project_home / "history" / "runs" / "index.db").exists()
    assert (project_home / "schedules" / "schedules.db").exists()


def test_only_a_dagster_yaml_of_pricings_own_is_rewritten(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", "unset-below")
    monkeypatch.delenv("DAGSTER_HOME")
    settings = current_settings().with_(project_dir=tmp_path)
    config = settings.dagster_home / "dagster.yaml"
    config.parent.mkdir(parents=True)
    for ours in (TELEMETRY_ONLY_YAML, MARKER + "telemetry:\n  enabled: true\n"):
        config.write_text(ours)
        _prepare_dagster_home(settings)
        assert config.read_text() == EMBEDDED_DAGSTER_YAML
        del os.environ["DAGSTER_HOME"]
    users = "telemetry:\n  enabled: true\n"
    config.write_text(users)
    _prepare_dagster_home(settings)
    assert config.read_text() == users


def test_a_users_dagster_home_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text(TELEMETRY_ONLY_YAML)
    _prepare_dagster_home(current_settings())
    assert (tmp_path / "dagster.yaml").read_text() == TELEMETRY_ONLY_YAML


def test_plain_dagster_reads_what_these_storages_wrote_and_back(project_home):
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("stockcode", ["85123A"])
        result = _probe_job.execute_in_process(instance=instance)
    with _plain_instance(project_home) as plain:
        assert type(plain.event_log_storage) is SqliteEventLogStorage
        assert type(plain.run_storage) is SqliteRunStorage
        assert [run.run_id for run in plain.get_runs()] == [result.run_id]
        assert len(plain.all_logs(result.run_id)) == len(result.all_events)
        assert plain.fetch_materializations(AssetKey(["probe", "4"]), limit=1).records
        assert plain.get_dynamic_partitions("stockcode") == ["85123A"]
        second = _probe_job.execute_in_process(instance=plain)
    (project_home / "dagster.yaml").write_text(EMBEDDED_DAGSTER_YAML)
    with DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, CachedEngineSqliteEventLogStorage)
        assert {run.run_id for run in instance.get_runs()} == {result.run_id, second.run_id}
        assert len(instance.all_logs(second.run_id)) == len(second.all_events)


def test_a_copied_home_is_an_instance_of_its_own(project_home, tmp_path):
    """The copy's storage is in the copy (as Dagster's default storage would be), not where it was copied from."""
    with DagsterInstance.get() as instance:
        first = _probe_job.execute_in_process(instance=instance)
    copy = tmp_path / "copy"
    shutil.copytree(project_home, copy)
    with DagsterInstance.from_config(str(copy)) as copied:
        assert isinstance(copied, EmbeddedInstance)
        assert [run.run_id for run in copied.get_runs()] == [first.run_id]
        _probe_job.execute_in_process(instance=copied)
        assert len(copied.get_runs()) == 2
    with DagsterInstance.get() as instance:
        assert [run.run_id for run in instance.get_runs()] == [first.run_id]


def test_each_storage_loads_by_itself_from_a_dagster_yaml(tmp_path):
    history = tmp_path / "history"
    (tmp_path / "dagster.yaml").write_text(
        f"run_storage:\n  module: pricing_assets.instance_storage\n  class: CachedEngineSqliteRunStorage\n"
        f"  config:\n    base_dir: {history}\n"
        f"event_log_storage:\n  module: pricing_assets.instance_storage\n"
        f"  class: CachedEngineSqliteEventLogStorage\n  config:\n    base_dir: {history / 'runs'}\n"
    )
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.event_log_storage, CachedEngineSqliteEventLogStorage)
        assert isinstance(instance.run_storage, CachedEngineSqliteRunStorage)
        result = _probe_job.execute_in_process(instance=instance)
    with _plain_instance(tmp_path) as plain:
        assert len(plain.all_logs(result.run_id)) == len(result.all_events)


def test_a_deleted_partition_is_absent_at_once_and_another_process_deletion_within_the_ttl(project_home, monkeypatch):
    with DagsterInstance.get() as instance, _plain_instance(project_home) as other:
        instance.add_dynamic_partitions("stockcode", ["85123A", "22423"])
        assert instance.has_dynamic_partition("stockcode", "85123A")
        instance.delete_dynamic_partition("stockcode", "85123A")
        assert not instance.has_dynamic_partition("stockcode", "85123A")

        now = [1000.0]
        monkeypatch.setattr(instance_storage.time, "monotonic", lambda: now[0])
        assert instance.has_dynamic_partition("stockcode", "22423")
        other.delete_dynamic_partition("stockcode", "22423")
        assert instance.has_dynamic_partition("stockcode", "22423")  # remembered, not asked again
        now[0] += instance_storage.PARTITION_TTL_SECONDS + 0.1
        assert not instance.has_dynamic_partition("stockcode", "22423")


def test_a_wipe_forgets_the_known_partitions(project_home):
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("stockcode", ["85123A"])
        assert instance.has_dynamic_partition("stockcode", "85123A")
        instance.event_log_storage.wipe()
        assert not instance.has_dynamic_partition("stockcode", "85123A")


def test_events_reuse_an_engine_per_database_file(project_home):
    engines: list[Engine] = []

    def seen(connection) -> None:
        if connection.engine not in engines:
            engines.append(connection.engine)

    with DagsterInstance.get() as instance:
        _probe_job.execute_in_process(instance=instance)  # the shards exist, their schema checked
        event.listen(Engine, "engine_connect", seen)
        try:
            result = _probe_job.execute_in_process(instance=instance)
        finally:
            event.remove(Engine, "engine_connect", seen)
    assert len(result.all_events) > 10
    # runs.db, index.db and the run's own shard (a new engine per query was one per event at least)
    assert len(engines) <= 3, len(engines)


def test_a_forked_child_builds_its_own_engine(tmp_path):
    cache = EngineCache()
    url = f"sqlite:///{tmp_path / 'x.db'}"
    parents = cache.get(url)
    assert cache.get(url) is parents
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it was handed the parent's engine, and leave
        os.write(write, b"shared" if cache.get(url) is parents else b"own")
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as answer:
        assert answer.read() == b"own"


def test_a_forked_child_never_closes_the_connections_it_inherited(tmp_path):
    """The parent's kept connection is the parent's: the child's cache sets it aside (it builds its own) and
    its dispose, at the child's end, leaves it in the pool, as SQLAlchemy advises for a forked process."""
    cache = EngineCache()
    url = f"sqlite:///{tmp_path / 'x.db'}"
    parents = cache.get(url)
    with parents.connect() as connection:  # opens the connection the pool then keeps
        connection.exec_driver_sql("select 1")
    assert parents.pool.checkedin() == 1
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: use an engine of its own, dispose of its cache, report what the parent's kept
        with cache.get(url).connect() as connection:
            connection.exec_driver_sql("select 1")
        cache.dispose()
        os.write(write, str(parents.pool.checkedin()).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as answer:
        assert answer.read() == b"1"
    with parents.connect() as connection:  # and the parent's connection still answers in the parent
        assert connection.exec_driver_sql("select 1").scalar() == 1


def test_the_least_recently_used_engines_are_let_go(tmp_path):
    cache = EngineCache(size=2)
    a, b, c = (f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db", "c.db"))
    first, second = cache.get(a), cache.get(b)
    assert cache.get(a) is first  # used again: b is now the least recent
    cache.get(c)
    assert cache.get(a) is first
    assert cache.get(b) is not second


def _opened_sqlite_connections(instance, job_def) -> int:
    """How many SQLite files the run's storage operations opened (DBAPI connections, not checkouts)."""
    opened: list[object] = []

    def on_connect(dbapi_connection, _record) -> None:
        opened.append(dbapi_connection)

    event.listen(Engine, "connect", on_connect)
    try:
        assert job_def.execute_in_process(instance=instance).success
    finally:
        event.remove(Engine, "connect", on_connect)
    return len(opened)


def test_a_run_reuses_a_kept_connection_per_database_file(project_home):
    """A run's few hundred storage operations share a connection per file (a NullPool opened one each)."""
    with DagsterInstance.get() as instance:
        _probe_job.execute_in_process(instance=instance)  # runs.db and index.db opened and kept
        opened = _opened_sqlite_connections(instance, _probe_job)
    # the new run's own shard, and at most a couple more when two operations overlapped
    assert opened <= 4, opened
    with _plain_instance(project_home) as plain:  # Dagster's own storage, for scale
        assert _opened_sqlite_connections(plain, _probe_job) > 20


def _open_deleted_files(folder) -> list[str]:
    """Files under ``folder`` this process still holds open although they were deleted (Linux /proc)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)) and target.endswith(" (deleted)"):
            held.append(target)
    return held


def test_a_wipe_leaves_no_connection_on_the_files_it_deletes(project_home):
    with DagsterInstance.get() as instance:
        first = _probe_job.execute_in_process(instance=instance)
        assert (project_home / "history" / "runs" / f"{first.run_id}.db").exists()
        instance.event_log_storage.wipe()
        assert not (project_home / "history" / "runs" / f"{first.run_id}.db").exists()
        assert _open_deleted_files(project_home) == []
        second = _probe_job.execute_in_process(instance=instance)
        assert len(instance.all_logs(second.run_id)) == len(second.all_events)


def test_a_kept_connection_sees_what_another_instance_wrote_since(project_home):
    """Nothing is held between operations: what another process (here a second instance with its own
    connections) commits is read at once through the first instance's kept connections."""
    with DagsterInstance.get() as instance, DagsterInstance.get() as other:
        first = _probe_job.execute_in_process(instance=instance)
        assert [run.run_id for run in other.get_runs()] == [first.run_id]  # other's connections now kept too
        second = _probe_job.execute_in_process(instance=other)
        assert {run.run_id for run in instance.get_runs()} == {first.run_id, second.run_id}
        assert len(instance.all_logs(second.run_id)) == len(second.all_events)
        assert instance.fetch_materializations(AssetKey(["probe", "4"]), limit=5).records[0].run_id == second.run_id


def test_a_runs_shard_is_a_copy_of_an_empty_one_made_once(project_home, monkeypatch):
    """Dagster's ``_initdb`` builds the empty shard once; every run's shard after it is a copy (and reads back)."""
    built: list[str] = []
    real = SqliteEventLogStorage._initdb

    def counting(self, engine, for_index_shard=False) -> None:
        built.append(str(engine.url))
        real(self, engine, for_index_shard)

    monkeypatch.setattr(SqliteEventLogStorage, "_initdb", counting)
    with DagsterInstance.get() as instance:
        runs = [_probe_job.execute_in_process(instance=instance) for _ in range(3)]
        assert [len(instance.all_logs(run.run_id)) for run in runs] == [len(run.all_events) for run in runs]
    assert sum("empty_shard_" in url for url in built) == 1, built
    assert not any(run.run_id in url for url in built for run in runs), built
    assert sorted(p.name for p in (project_home / "history" / "runs").iterdir() if not p.name.startswith("index")) == (
        sorted(f"{run.run_id}.db" for run in runs)
    )
    with _plain_instance(project_home) as plain:
        assert [len(plain.all_logs(run.run_id)) for run in runs] == [len(run.all_events) for run in runs]


def test_a_shard_that_exists_already_is_never_replaced(project_home):
    with DagsterInstance.get() as instance:
        run = _probe_job.execute_in_process(instance=instance)
        storage = instance.event_log_storage
        shard = project_home / "history" / "runs" / f"{run.run_id}.db"
        before = shard.stat().st_ino
        assert storage._create_run_shard(run.run_id) is False
        with pytest.MonkeyPatch.context() as race:  # another process made it after this one looked
            race.setattr(instance_storage.os.path, "exists", lambda path: False)
            assert storage._create_run_shard(run.run_id) is False
        assert shard.stat().st_ino == before  # the same file, not one put in its place
    assert [p.name for p in shard.parent.iterdir() if p.name.endswith(".tmp")] == []
    with _plain_instance(project_home) as plain:  # every event still there, read afresh
        assert len(plain.all_logs(run.run_id)) == len(run.all_events)


def test_a_file_system_without_hard_links_gets_dagsters_own_shard(project_home, monkeypatch):
    def refused(source, target) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(instance_storage.os, "link", refused)
    with DagsterInstance.get() as instance:
        run = _probe_job.execute_in_process(instance=instance)
        assert len(instance.all_logs(run.run_id)) == len(run.all_events)
    assert [p.name for p in (project_home / "history" / "runs").iterdir() if p.name.endswith(".tmp")] == []


def test_a_copy_abandoned_by_a_killed_process_is_removed_and_a_running_ones_kept(project_home):
    """A process killed between writing its shard's copy and linking it leaves the copy aside; the next process
    to make a shard removes it, but not the copy of a process that still runs, nor a file that is not a copy."""
    runs = project_home / "history" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(finished.stdout)  # a process that has ended (its id not reused in this short a time)
    abandoned = runs / f".0b6f2a1c-6f1e-4c1a-9a8e-1d2c3b4a5f60.{dead}.0123abcd.tmp"
    running = runs / f".5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a.{os.getpid()}.89abcdef.tmp"
    other = runs / ".someone_elses.tmp"
    for path in (abandoned, running, other):
        path.write_bytes(b"half a copy")
    with DagsterInstance.get() as instance:
        _probe_job.execute_in_process(instance=instance)
    assert not abandoned.exists()
    assert running.exists() and other.exists()


def test_a_completed_migration_and_a_column_are_remembered_and_a_no_asked_again(project_home, monkeypatch):
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

    asked: list[str] = []
    real_index = SqlEventLogStorage.has_secondary_index
    real_column = SqlEventLogStorage._has_asset_key_col_on_connection
    monkeypatch.setattr(SqlEventLogStorage, "has_secondary_index", lambda s, n: asked.append(n) or real_index(s, n))
    monkeypatch.setattr(
        SqlEventLogStorage, "_has_asset_key_col_on_connection", lambda s, c, n: asked.append(n) or real_column(s, c, n)
    )
    with DagsterInstance.get() as instance:

        def run_and_read() -> None:
            _probe_job.execute_in_process(instance=instance)
            instance.fetch_materializations(AssetKey(["probe", "4"]), limit=1)
            instance.get_asset_records([AssetKey(["probe", "4"])])  # what a step's data version is read with

        run_and_read()
        assert {"asset_key_index_columns", "last_materialization_timestamp"} <= set(asked), asked
        asked.clear()
        run_and_read()
        assert asked == []  # every answer was a "yes", remembered
        storage = instance.event_log_storage
        asked.clear()
        assert storage.has_secondary_index("no such migration") is False
        assert storage.has_secondary_index("no such migration") is False
        assert storage.has_asset_key_col("no_such_column") is False
        assert storage.has_asset_key_col("no_such_column") is False
        assert asked == ["no such migration"] * 2 + ["no_such_column"] * 2
        storage.wipe()
        asked.clear()
        _probe_job.execute_in_process(instance=instance)
        assert asked, "a wipe forgets what was asked"


def test_the_uis_live_run_log_sees_each_event_while_the_run_keeps_its_connection(project_home):
    """Dagster's UI follows a running run through a watch on its SQLite shard, which wakes when the shard's file
    changes: a kept connection must not hold the events in its write-ahead log until the run ends."""
    import threading
    import time

    from dagster._core.events.log import EventLogEntry

    run_id = "0f0f0f0f-1111-2222-3333-444444444444"
    seen: list[str] = []
    arrived = threading.Event()

    def on_event(entry, _cursor) -> None:
        seen.append(entry.user_message)
        arrived.set()

    with DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        runs_dir = project_home / "history" / "runs"
        watcher = SqliteEventLogStorage(str(runs_dir))  # the UI's storage, Dagster's own, another reader
        try:
            watcher.watch(run_id, None, on_event)
            for index in range(3):
                arrived.clear()
                message = f"step {index}"
                entry = EventLogEntry(
                    error_info=None, level=20, user_message=message, run_id=run_id, timestamp=time.time()
                )
                storage.store_event(entry)
                assert arrived.wait(20), f"the watch saw {seen} while the run wrote {message!r}"
                assert seen[-1] == message
        finally:
            watcher.dispose()


def test_a_runs_shard_gets_the_mode_sqlite_gives_its_own_files(project_home):
    """Whatever the umask, the copy is as readable and writable as the index SQLite made (0644 before the umask)."""
    mask = os.umask(0)  # nothing masked: a copy made 0666 would be writable by everyone
    try:
        with DagsterInstance.get() as instance:
            run = _probe_job.execute_in_process(instance=instance)
    finally:
        os.umask(mask)
    runs = project_home / "history" / "runs"
    assert (runs / f"{run.run_id}.db").stat().st_mode & 0o777 == (runs / "index.db").stat().st_mode & 0o777 == 0o644
