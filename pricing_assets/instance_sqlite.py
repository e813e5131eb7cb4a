"""How hard the embedded Dagster instance's SQLite files insist on reaching the disk.

Why: the embedded instance (``pricing run``, ``pricing ui`` without a dagster.yaml of your own)
keeps runs and events in SQLite and commits each event on its own (Dagster's own storages also open
a connection per event and close it after, SQLAlchemy's NullPool; ours keep one, instance_storage).
With SQLite's default ``synchronous=FULL`` every event's commit waits for an fsync and every close
checkpoints the write-ahead log with more of them: on this project's
2-core machine that was half of a stockcode's run (a lineage run writes several hundred events;
BENCHMARKS.md, "The whole catalogue"). ``PRICING_SQLITE_SYNCHRONOUS`` sets SQLite's
``PRAGMA synchronous`` on every SQLite connection SQLAlchemy opens in this process:

- ``off`` (the default): commits are handed to the operating system without waiting for the
  disk. A crash of the program loses nothing; a crash of the operating system or a power cut can
  lose the latest events or damage the instance's history (the promoted bundles and their lineage
  manifests live in the artifact store, written atomically, and are not affected).
- ``normal`` / ``full``: SQLite's own guarantees, at SQLite's speed.

A production instance keeps its history in PostgreSQL (deploy/dagster.yaml), where this does not apply.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine

MODES = ("off", "normal", "full")
_mode = {"value": "full"}  # what SQLite does by itself until a code location says otherwise


def _on_connect(dbapi_connection: object, _record: object) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection) and _mode["value"] != "full":
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA synchronous={_mode['value'].upper()}")
        cursor.close()


def use_sqlite_synchronous(mode: str) -> None:
    """Every SQLite connection SQLAlchemy opens from now on in this process uses ``mode``."""
    if mode not in MODES:
        raise ValueError(f"PRICING_SQLITE_SYNCHRONOUS must be one of {MODES}, not {mode!r}")
    _mode["value"] = mode
    if not event.contains(Engine, "connect", _on_connect):
        event.listen(Engine, "connect", _on_connect)
