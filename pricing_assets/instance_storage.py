"""Dagster's SQLite run and event-log storages, with an engine kept per database file.

Why: the embedded instance (``pricing run``, ``pricing ui`` without a dagster.yaml of your own)
keeps runs and events in SQLite. Dagster's ``SqliteEventLogStorage`` builds a new SQLAlchemy engine
for every read and write (and ``SqliteRunStorage`` for every connection), so each one pays for
SQLAlchemy's engine set-up and its dialect's first-connect checks on top of the query. A lineage run
writes a few hundred events and asks some 340 times whether its stockcode partition exists (each a
new engine, a table check and a query): on 4 dev stockcodes a run took 4.0 s with Dagster's storages
and 2.5 s with these (one process, the same machine and data, 2 rounds each).

These subclasses change only how a connection is obtained, never what is stored: the same files in
the same places (``<home>/history/runs.db``, ``<home>/history/runs/index.db`` and a ``<run_id>.db``
per run), with Dagster's own schema and migrations, so ``pricing ui``, a daemon or plain Dagster read
the folder as before.

Each engine also keeps one connection open between operations (SQLAlchemy's ``QueuePool`` of one;
more are opened and closed as needed when threads ask at once), where Dagster's ``NullPool`` opens
and closes one per operation: a lineage run makes some 700 of them, and opening a SQLite file (its
write-ahead log, its schema, the ``PRAGMA synchronous`` of ``instance_sqlite``) cost about 0.5 s of
a 3.4 s run (in process, 4 runs each interleaved: 3.43 -> 2.90 s median). SQLite needs nothing held
between transactions, so other processes (the UI, the daemon, other workers) read and write as
before. A wipe deletes the run shards' files, so it closes this process's connections first; an
instance's ``dispose`` (the end of ``pricing run``) closes them all.
:class:`EmbeddedInstance` (named in the project's own dagster.yaml, cli._prepare_dagster_home) puts them in
the instance's folder; each storage also loads by itself from a dagster.yaml's ``run_storage`` /
``event_log_storage`` with a ``base_dir``, as Dagster's own do.

- An engine is reused in the process that created it only: a forked child builds its own rather than
  use one its parent set up, and never closes the parent's connections it inherited (it keeps them,
  unused, as SQLAlchemy advises for a child process).
- ``has_dynamic_partition`` remembers a "yes" for ``PARTITION_TTL_SECONDS``: a run asks about its own
  stockcode partition hundreds of times. A "no" is never remembered; a partition deleted through this
  storage is forgotten at once, one deleted by another process is seen as deleted within the TTL.
- A run's own shard (a new SQLite file every run) is written as a copy of an empty shard that Dagster's own
  ``_initdb`` built once in this process, where Dagster builds each one afresh: its tables, the write-ahead
  log and the schema's Alembic stamp took about 0.1 s of a 3 s run, an eighth of Dagster's own part
  (BENCHMARKS.md, "Dagster's overhead"). The copy is written aside and linked into place, which never
  replaces a file: a shard another process made first is kept, and checked by Dagster's ``_initdb`` as before;
  on a file system without hard links Dagster's ``_initdb`` makes each shard, as it did. A copy left aside by a
  process killed before its link is removed by the next process that makes a shard.
- A run's own shard is checkpointed at every commit (``PRAGMA wal_autocheckpoint=1`` on its connections): the
  UI follows a running run's log through a watch on the shard's file (``SqliteEventLogStorage.watch``), and a
  kept connection leaves every event in the write-ahead log until it closes, where Dagster's own storage closes
  its connection after each event and the last close checkpoints. Without it the UI's live log of a run stayed
  empty until the run ended.
- Two schema questions Dagster asks of the index shard before most asset reads (whether a data migration has
  completed, whether a column of ``asset_keys`` exists) remember a "yes", as Dagster's own PostgreSQL and
  consolidated SQLite storages remember the first: nothing undoes a completed migration or drops a column (a
  wipe keeps both; this storage forgets them then all the same). A "no" is asked again.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import dagster._check as check
import yaml
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, QueuePool

PARTITION_TTL_SECONDS = 5.0
# A run shard's copy is written aside as ``.<run id>.<pid>.<8 hex>.tmp`` and linked into place.
ABANDONED_COPY = re.compile(r"\.(?P<run>[0-9a-f-]+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp")
# Engines kept per storage: the index shard plus the run shards in use (a run writes to its own); an
# in-process catalogue run opens a shard per stockcode, so the least recently used ones are let go.
MAX_ENGINES = 16


def _process_runs(pid: int) -> bool:
    """Whether a process of this id runs (one of another user's counts: it is not ours to judge)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _checkpoint_each_commit(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=1")  # a checkpoint (passive) once the log holds a page: every commit
    cursor.close()


class EngineCache:
    """One engine per SQLite URL, for the process that built it, keeping a connection open for reuse.

    A small LRU: at most ``size`` engines. After a fork the child starts from an empty cache (the check is
    on ``os.getpid()``), so it never uses an engine whose state was set up by its parent; the parent's
    engines are kept, not disposed of, so the child's garbage collector never closes the parent's
    connections."""

    def __init__(self, size: int = MAX_ENGINES, connect_args: Mapping[str, Any] | None = None) -> None:
        self._size = size
        # A pooled connection may be checked out by another thread than the one that opened it (the
        # webserver's); the pool hands it to one thread at a time.
        self._connect_args = {**dict(connect_args or {}), "check_same_thread": False}
        self._inherited: list[Engine] = []
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._reset()

    def _reset(self) -> None:
        self._inherited.extend(self._engines.values())  # a fork's parent's: never used, never closed here
        self._pid = os.getpid()
        self._lock = threading.Lock()  # guards the dict only, never held across I/O
        self._engines = OrderedDict()

    def get(self, url: str, checkpoint_each_commit: bool = False) -> Engine:
        """The engine of ``url``; ``checkpoint_each_commit``: its connections copy every commit from the
        write-ahead log into the database file (a run's shard, which the UI's live run log watches)."""
        if self._pid != os.getpid():
            self._reset()
        with self._lock:
            engine = self._engines.get(url)
            if engine is not None:
                self._engines.move_to_end(url)
                return engine
            # one connection kept; more opened (and closed on return) when threads ask at once, never a wait
            engine = create_engine(
                url, poolclass=QueuePool, pool_size=1, max_overflow=-1, connect_args=self._connect_args
            )
            if checkpoint_each_commit:
                event.listen(engine, "connect", _checkpoint_each_commit)
            self._engines[url] = engine
            while len(self._engines) > self._size:
                # closes its kept connection; one still checked out closes when it is returned
                self._engines.popitem(last=False)[1].dispose()
            return engine

    def dispose(self) -> None:
        if self._pid != os.getpid():
            self._reset()
            return
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


class CachedEngineSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with an engine per shard and a short memory of existing dynamic partitions.

    In a dagster.yaml::

        event_log_storage:
          module: pricing_assets.instance_storage
          class: CachedEngineSqliteEventLogStorage
          config:
            base_dir: <DAGSTER_HOME>/history/runs
    """

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        # before the parent's __init__, which may already connect (a new index shard is reindexed)
        self._engines = EngineCache(connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        self._known_partitions: dict[tuple[str, str], float] = {}
        self._empty_shard: bytes | None = None  # an empty run shard's file, built on first need
        self._completed_indexes: set[str] = set()
        self._asset_key_columns: set[str] = set()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> CachedEngineSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # Dagster's own, but with the shard's engine kept instead of built and disposed of every time
        with self._db_lock:
            check.str_param(shard, "shard")
            # A run's events reach its own file at each commit: the UI's live run log (Dagster's watch of a
            # SQLite shard) wakes on that file's changes, which a kept connection's write-ahead log alone never makes.
            engine = self._engines.get(
                self.conn_string_for_shard(shard), checkpoint_each_commit=shard != INDEX_SHARD_NAME
            )
            if shard not in self._initialized_dbs:
                if shard == INDEX_SHARD_NAME or not self._create_run_shard(shard):
                    self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _create_run_shard(self, shard: str) -> bool:
        """Create a run's shard as a copy of an empty one; False when its file exists already (from another
        process, or an earlier run of the same id), which Dagster's ``_initdb`` then checks."""
        path = self.path_for_shard(shard)
        if os.path.exists(path):
            return False
        if self._empty_shard is None:
            self._empty_shard = self._build_empty_shard()
            self._remove_abandoned_copies()
        aside = os.path.join(self._base_dir, f".{shard}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # SQLite's own mode for a new file
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(self._empty_shard)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(aside, path)  # atomic, and never replaces a shard that appeared meanwhile
        except OSError:  # it did; or a file system without hard links, where Dagster's own way still works
            return False
        finally:
            os.unlink(aside)
        return True

    def _remove_abandoned_copies(self) -> None:
        """Delete the copies a killed process left aside (``.<run>.<pid>.<hex>.tmp``, about 110 KB each): a
        process killed between writing its copy and linking it never comes back for it. A copy whose process
        still runs is left to it; once per process, when it first makes a shard."""
        for name in os.listdir(self._base_dir):
            match = ABANDONED_COPY.fullmatch(name)
            if match is None or _process_runs(int(match["pid"])):
                continue
            with suppress(FileNotFoundError):  # another process cleared it first
                os.unlink(os.path.join(self._base_dir, name))

    def _build_empty_shard(self) -> bytes:
        """An empty run shard's bytes, made by Dagster's own ``_initdb`` in a folder of its own."""
        with tempfile.TemporaryDirectory(prefix="empty_shard_") as folder:
            path = os.path.join(folder, "shard.db")
            engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
            try:
                self._initdb(engine)
            finally:
                engine.dispose()  # no connection stays open (each closed, the last checkpointing the write-ahead log)
            with open(path, "rb") as handle:
                return handle.read()

    def has_secondary_index(self, name: str) -> bool:
        if name in self._completed_indexes:
            return True
        found = super().has_secondary_index(name)
        if found:
            self._completed_indexes.add(name)
        return found

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        if column_name in self._asset_key_columns:
            return True
        found = super()._has_asset_key_col_on_connection(conn, column_name)
        if found:
            self._asset_key_columns.add(column_name)
        return found

    def has_table(self, table_name: str) -> bool:
        # not under _db_lock, as Dagster's: it is called while an index connection is open (wipe)
        engine = self._engines.get(self.conn_string_for_shard(INDEX_SHARD_NAME))
        with engine.connect() as conn:
            return bool(engine.dialect.has_table(conn, table_name))

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        key = (partitions_def_name, partition_key)
        until = self._known_partitions.get(key)
        if until is not None and time.monotonic() < until:
            return True
        found = super().has_dynamic_partition(partitions_def_name, partition_key)
        if found:
            self._known_partitions[key] = time.monotonic() + PARTITION_TTL_SECONDS
        else:
            self._known_partitions.pop(key, None)
        return found

    def delete_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> None:
        super().delete_dynamic_partition(partitions_def_name, partition_key)
        self._known_partitions.pop((partitions_def_name, partition_key), None)

    def wipe(self) -> None:
        self._engines.dispose()  # Dagster's wipe deletes the run shards' files: no connection may stay open on them
        super().wipe()
        self._known_partitions.clear()
        self._completed_indexes.clear()
        self._asset_key_columns.clear()

    def dispose(self) -> None:
        super().dispose()
        self._engines.dispose()


class CachedEngineSqliteRunStorage(SqliteRunStorage):
    """``SqliteRunStorage`` with its engine kept instead of built for every connection.

    In a dagster.yaml::

        run_storage:
          module: pricing_assets.instance_storage
          class: CachedEngineSqliteRunStorage
          config:
            base_dir: <DAGSTER_HOME>/history
    """

    def __init__(self, conn_string: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines = EngineCache(size=1)
        super().__init__(conn_string, inst_data=inst_data)

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> CachedEngineSqliteRunStorage:
        return cls.from_local(inst_data=inst_data, **config_value)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._engines.get(self._conn_string).connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        super().dispose()
        self._engines.dispose()


# The project's own instance ------------------------------------------------------------------------


class CachedEngineSqliteStorage(DagsterSqliteStorage):
    """Dagster's default SQLite storage (runs, events, schedules under one ``base_dir``, its layout) with the
    run and event-log storages above; schedules keep Dagster's own."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        # DagsterSqliteStorage.__init__ with our two classes (its own would build Dagster's first)
        self.base_dir = check.str_param(base_dir, "base_dir")
        self._run_storage = CachedEngineSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = CachedEngineSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = check.opt_inst_param(inst_data, "inst_data", ConfigurableClassData)
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> CachedEngineSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)


class EmbeddedInstance(DagsterInstance):
    """A DagsterInstance whose storage, when its dagster.yaml names none, is :class:`CachedEngineSqliteStorage`
    in the instance's own folder, where Dagster's default storage would be.

    Why an instance class rather than ``run_storage``/``event_log_storage`` entries in the dagster.yaml: those
    need the folder spelled out, absolute (a dagster.yaml cannot join ``$DAGSTER_HOME`` to a subfolder), and a
    copied or moved home would then go on reading and writing the original. Dagster hands an instance class
    the folder it loads, as it does its own defaults."""

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        return {}  # nothing of its own in the dagster.yaml

    @staticmethod
    def config_defaults(base_dir: str) -> Mapping[str, ConfigurableClassData | None]:
        return {
            **InstanceRef.config_defaults(base_dir),
            "storage": _data(CachedEngineSqliteStorage, base_dir),
            "run_storage": _data(CachedEngineSqliteRunStorage, _runs_directory(base_dir)),
            "event_log_storage": _data(CachedEngineSqliteEventLogStorage, _event_logs_directory(base_dir)),
        }


def _data(cls: type, base_dir: str) -> ConfigurableClassData:
    return ConfigurableClassData(__name__, cls.__name__, yaml.dump({"base_dir": base_dir}, default_flow_style=False))


# What cli._prepare_dagster_home wrote before EmbeddedInstance: upgraded in place.
TELEMETRY_ONLY_YAML = "telemetry:\n  enabled: false\n"
MARKER = (
    "# Written by `pricing` for its own instance (pricing_assets/instance_storage.py), rewritten when a newer\n"
    "# pricing writes another. Delete these two lines to keep edits of your own.\n"
)
EMBEDDED_DAGSTER_YAML = (
    MARKER + TELEMETRY_ONLY_YAML + f"instance_class:\n  module: {__name__}\n  class: {EmbeddedInstance.__name__}\n"
)


def is_ours(text: str) -> bool:
    """Whether a dagster.yaml is one ``pricing`` wrote (now or before), so it may be rewritten."""
    return text == TELEMETRY_ONLY_YAML or text.startswith(MARKER)
