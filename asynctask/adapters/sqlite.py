"""The embedded store: one SQLite file (WAL), safe across threads and processes."""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable
from datetime import datetime

from asynctask.adapters._errors import store_errors
from asynctask.adapters._json import dumps
from asynctask.core import Task, TaskRepository, TaskStatus

_COLUMNS = (
    "task_id status params create_time update_time submit_time attempt version "
    "result error start_time end_time heartbeat_time extra"
).split()
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id     TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    params      TEXT NOT NULL,
    create_time TEXT NOT NULL,
    update_time TEXT NOT NULL,
    submit_time TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    result      TEXT NOT NULL,
    error       TEXT,
    start_time  TEXT,
    end_time    TEXT,
    heartbeat_time TEXT,
    extra       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_running_heartbeat ON tasks (heartbeat_time) WHERE status = 'running';
"""
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM tasks WHERE task_id = ?"
_INSERT = f"INSERT OR IGNORE INTO tasks ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_TOUCH = "UPDATE tasks SET heartbeat_time = ? WHERE task_id = ? AND attempt = ? AND status = 'running'"
_STALE = (
    f"SELECT {', '.join(_COLUMNS)} FROM tasks WHERE status = 'running' "
    "AND COALESCE(heartbeat_time, submit_time) < ? LIMIT ?"
)
#: What a busy, locked, missing or broken database file raises.
_unavailable = store_errors(sqlite3.OperationalError, sqlite3.DatabaseError, OSError)
_UPDATE = f"UPDATE tasks SET {', '.join(f'{c} = ?' for c in _COLUMNS[1:])} WHERE task_id = ? AND version = ?"


class SqliteTaskRepository(TaskRepository):
    """Tasks as rows of one table; the primary key dedupes, ``UPDATE ... WHERE version = ?`` is the CAS.

    Each thread (and each process after a fork) opens its own connection.
    """

    @_unavailable
    def __init__(self, path: str | os.PathLike, *, busy_timeout: float = 30.0) -> None:
        self.path = os.fspath(path)
        if self.path in ("", ":memory:") or self.path.startswith("file:"):
            raise ValueError("SqliteTaskRepository needs a file path; use InMemoryTaskRepository for memory")
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        if hasattr(os, "register_at_fork"):  # a forked child must not use its parent's connections
            os.register_at_fork(after_in_child=functools.partial(_forget_connections, weakref.ref(self)))
        with self._connection() as connection:
            connection.executescript(_SCHEMA)

    @_unavailable
    def get(self, task_id: str) -> Task | None:
        """The stored task, or ``None``."""
        row = self._connection().execute(_SELECT, (task_id,)).fetchone()
        return None if row is None else _from_row(row)

    @_unavailable
    def insert(self, task: Task) -> bool:
        """Store a new task unless its id is taken."""
        cursor = self._connection().execute(_INSERT, _to_row(task))
        return cursor.rowcount == 1

    @_unavailable
    def replace(self, task: Task, expected_version: int) -> bool:
        """Store ``task`` if the stored version is still ``expected_version``."""
        row = _to_row(task)
        cursor = self._connection().execute(_UPDATE, (*row[1:], task.task_id, expected_version))
        return cursor.rowcount == 1

    @_unavailable
    def touch(self, attempts: Iterable[tuple[str, int]], now: datetime) -> None:
        """Heartbeat the running attempts in one transaction."""
        beat = _time(now)
        with self._connection() as connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(_TOUCH, [(beat, task_id, attempt) for task_id, attempt in attempts])

    @_unavailable
    def stale_running(self, heartbeat_before: datetime, limit: int = 100) -> list[Task]:
        """Running tasks whose last heartbeat is older than ``heartbeat_before``."""
        rows = self._connection().execute(_STALE, (_time(heartbeat_before), limit)).fetchall()
        return [_from_row(row) for row in rows]

    def __repr__(self) -> str:
        return f"SqliteTaskRepository({self.path!r})"

    def close(self) -> None:
        """Close every connection this repository opened."""
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection


def _forget_connections(repository_ref: weakref.ref) -> None:
    repository = repository_ref()
    if repository is not None:
        repository._local, repository._connections = threading.local(), []


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="milliseconds")


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _to_row(task: Task) -> tuple:
    return (
        task.task_id,
        task.status.value,
        dumps(task.params, "params"),
        _time(task.create_time),
        _time(task.update_time),
        _time(task.submit_time),
        task.attempt,
        task.version,
        dumps(task.result, "result"),
        task.error,
        _time(task.start_time),
        _time(task.end_time),
        _time(task.heartbeat_time),
        dumps(task.extra, "extra fields"),
    )


def _from_row(row: tuple) -> Task:
    values = dict(zip(_COLUMNS, row, strict=True))
    for name in ("params", "result", "extra"):
        values[name] = json.loads(values[name])
    for name in ("create_time", "update_time", "submit_time", "start_time", "end_time", "heartbeat_time"):
        values[name] = _parse_time(values[name])
    values["status"] = TaskStatus(values["status"])
    return Task.restore(values)  # our own rows: canonical already
