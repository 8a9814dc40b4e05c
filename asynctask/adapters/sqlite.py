"""The embedded store: one SQLite file (WAL), safe across threads and processes."""

from __future__ import annotations

import functools
import mmap
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable
from datetime import datetime

from asynctask.adapters._errors import store_errors
from asynctask.adapters._json import Frozen, FrozenValue, dumps, thaw
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
#: The WAL-index header: two copies of 48 bytes at the start of the ``-shm`` file (sqlite.org/walformat.html).
_HEADER, _HEADER_COPY = slice(0, 48), slice(48, 96)
#: At most this many tasks are kept by the read cache.
CACHE_SIZE = 4096
_UPDATE = f"UPDATE tasks SET {', '.join(f'{c} = ?' for c in _COLUMNS[1:])} WHERE task_id = ? AND version = ?"


class SqliteTaskRepository(TaskRepository):
    """Tasks as rows of one table; the primary key dedupes, ``UPDATE ... WHERE version = ?`` is the CAS.

    Each thread (and each process after a fork) opens its own connection.

    Reads are cached while the database does not change: SQLite counts every
    commit, from any connection or process, in the WAL-index header of the
    ``-shm`` file, and the cache is dropped whenever that header moves.
    """

    @_unavailable
    def __init__(self, path: str | os.PathLike, *, busy_timeout: float = 30.0) -> None:
        path = os.fspath(path)
        if path in ("", ":memory:") or path.startswith("file:"):
            raise ValueError("SqliteTaskRepository needs a file path; use InMemoryTaskRepository for memory")
        self.path = os.path.abspath(path)  # threads opening connections later must find the same file
        directory = os.path.dirname(self.path)
        os.makedirs(directory, exist_ok=True)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        # One writer at a time in this process: waiting here wakes at once, while SQLite's
        # busy handler sleeps in steps of milliseconds (other processes still meet it).
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._wal_index: mmap.mmap | None = None
        self._wal_identity: tuple[int, int] | None = None
        #: The WAL-index header and the tasks read while it was current: one tuple, swapped whole.
        self._cache: tuple[bytes, dict[str, tuple[Task, Frozen]]] = (b"", {})
        if hasattr(os, "register_at_fork"):  # a forked child must not use its parent's connections
            os.register_at_fork(after_in_child=functools.partial(_forget_connections, weakref.ref(self)))
        with self._connection() as connection:
            connection.executescript(_SCHEMA)

    @_unavailable
    def get(self, task_id: str) -> Task | None:
        """The stored task, or ``None``."""
        connection = self._connection()  # first: a new connection checks the WAL-index is the file's
        header = self._header()
        if header is not None:
            cached_header, cache = self._cache  # one read: this dict belongs to this header
            if header == cached_header:
                hit = cache.get(task_id)
                if hit is not None:
                    return thaw(*hit)
            else:  # something was committed since: start a new cache
                cache = {}
                self._cache = (header, cache)
        row = connection.execute(_SELECT, (task_id,)).fetchone()
        if row is None:
            return None
        stored = _from_row(row)
        # The row is at least as new as ``header``: valid for whoever still reads that header.
        if header is not None and len(cache) < CACHE_SIZE:
            cache[task_id] = stored
        return thaw(*stored)

    @_unavailable
    def insert(self, task: Task) -> bool:
        """Store a new task unless its id is taken."""
        row, connection = _to_row(task), self._connection()
        with self._write_lock:
            return connection.execute(_INSERT, row).rowcount == 1

    @_unavailable
    def replace(self, task: Task, expected_version: int) -> bool:
        """Store ``task`` if the stored version is still ``expected_version``."""
        row, connection = _to_row(task), self._connection()
        with self._write_lock:
            return connection.execute(_UPDATE, (*row[1:], task.task_id, expected_version)).rowcount == 1

    @_unavailable
    def touch(self, attempts: Iterable[tuple[str, int]], now: datetime) -> None:
        """Heartbeat the running attempts in one transaction."""
        beat = _time(now)
        with self._write_lock, self._connection() as connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(_TOUCH, [(beat, task_id, attempt) for task_id, attempt in attempts])

    @_unavailable
    def stale_running(self, heartbeat_before: datetime, limit: int = 100) -> list[Task]:
        """Running tasks whose last heartbeat is older than ``heartbeat_before``."""
        rows = self._connection().execute(_STALE, (_time(heartbeat_before), limit)).fetchall()
        return [thaw(*_from_row(row)) for row in rows]

    def __repr__(self) -> str:
        return f"SqliteTaskRepository({self.path!r})"

    def close(self) -> None:
        """Close every connection this repository opened."""
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        self._local = threading.local()
        self._forget_wal_index()

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            wal = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA schema_version").fetchone()  # a read: the WAL-index exists now
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
                if wal:
                    self._check_wal_index()
        return connection

    def _check_wal_index(self) -> None:
        """Map the WAL-index if it is not yet; map it again if the file was replaced (a store reset)."""
        if self._wal_index is not None and _identity(self.path + "-shm") == self._wal_identity:
            return
        self._forget_wal_index()
        self._wal_index, self._wal_identity = _map_wal_index(self.path)

    def _header(self) -> bytes | None:
        """The WAL-index header now, or ``None`` when it cannot be read consistently (then: no cache)."""
        wal_index = self._wal_index
        if wal_index is None:
            return None
        try:
            header = wal_index[_HEADER]
        except ValueError:  # closed by close() meanwhile
            return None
        # SQLite writes the second copy first: equal copies with isInit set are a settled header.
        return header if header == wal_index[_HEADER_COPY] and header[12] == 1 else None

    def _forget_wal_index(self) -> None:
        wal_index, self._wal_index = self._wal_index, None
        self._cache = (b"", {})
        if wal_index is not None:
            wal_index.close()


def _map_wal_index(path: str) -> tuple[mmap.mmap | None, tuple[int, int] | None]:
    """The WAL-index (``<path>-shm``) mapped read-only, and the file's identity; ``None`` where
    SQLite keeps it elsewhere.

    Called with a connection of this process open, so the file is not removed
    meanwhile (SQLite removes it when the last connection closes).
    """
    try:
        with open(path + "-shm", "rb") as file:
            stat = os.fstat(file.fileno())
            return mmap.mmap(file.fileno(), 136, access=mmap.ACCESS_READ), (stat.st_dev, stat.st_ino)
    except (OSError, ValueError):  # no such file (another VFS), or not initialised yet
        return None, None


def _identity(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _forget_connections(repository_ref: weakref.ref) -> None:
    repository = repository_ref()
    if repository is not None:
        repository._local, repository._connections = threading.local(), []
        repository._write_lock = threading.Lock()  # a thread of the parent may have held it
        repository._wal_index, repository._cache = None, (b"", {})


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


def _from_row(row: tuple) -> tuple[Task, Frozen]:
    """A row as a task and the JSON text of its values (``thaw`` makes the values of each copy)."""
    values = dict(zip(_COLUMNS, row, strict=True))
    frozen = (FrozenValue(values["params"]), FrozenValue(values["result"]), FrozenValue(values["extra"]))
    for name in ("create_time", "update_time", "submit_time", "start_time", "end_time", "heartbeat_time"):
        values[name] = _parse_time(values[name])
    values["status"] = TaskStatus(values["status"])
    return Task.restore(values), frozen  # our own rows: canonical already
