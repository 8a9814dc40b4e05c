"""The embedded store: one SQLite file (WAL), safe across threads, processes and other tools."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from asynctask.adapters._errors import store_errors
from asynctask.adapters._json import dumps
from asynctask.core import Page, Position, Task, TaskRepository, TaskStatus, utc
from asynctask.core.listing import page_of

_COLUMNS = (
    "task_id status params create_time update_time submit_time attempt version "
    "result error start_time end_time heartbeat_time extra retries_left retry_time"
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
    extra       TEXT NOT NULL,
    retries_left INTEGER,
    retry_time  TEXT
);
CREATE INDEX IF NOT EXISTS tasks_running_heartbeat ON tasks (heartbeat_time) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS tasks_status_created ON tasks (status, create_time, task_id);
CREATE INDEX IF NOT EXISTS tasks_created ON tasks (create_time, task_id);
CREATE INDEX IF NOT EXISTS tasks_status_ended ON tasks (status, end_time) WHERE end_time IS NOT NULL;
"""
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM tasks WHERE task_id = ?"
_INSERT = f"INSERT OR IGNORE INTO tasks ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_TOUCH = "UPDATE tasks SET heartbeat_time = ? WHERE task_id = ? AND attempt = ? AND status = 'running'"
#: ``Task.last_sign_of_life`` in SQL: the heartbeat, or the submission when none came.
_STALE = (
    f"SELECT {', '.join(_COLUMNS)} FROM tasks WHERE status = 'running' AND attempt > 0 "
    "AND COALESCE(heartbeat_time, submit_time) < ? LIMIT ?"
)
#: Retention: finished tasks by ``end_time``, one status at a time (``?`` is the status).
_FINISHED = "FROM tasks WHERE status = ? AND end_time IS NOT NULL AND end_time < ?"
_DELETE = "DELETE FROM tasks WHERE task_id = ?"
_DELETE_ENDED = _DELETE + " AND status IN ('success', 'failed') AND end_time IS NOT NULL AND end_time < ?"
#: What a busy, locked, missing or broken database file raises.
_unavailable = store_errors(sqlite3.OperationalError, sqlite3.DatabaseError, OSError)
_UPDATE = f"UPDATE tasks SET {', '.join(f'{c} = ?' for c in _COLUMNS[1:])} WHERE task_id = ? AND version = ?"
#: The connections a repository keeps open at most, however many threads use it.
MAX_CONNECTIONS = 8


class SqliteTaskRepository(TaskRepository):
    """Tasks as rows of one table; the primary key dedupes, ``UPDATE ... WHERE version = ?`` is the CAS.

    Threads share at most ``max_connections`` connections, so a server with a
    thread per request opens no more than that. Only SQLite touches the
    database and its ``-wal`` and ``-shm`` files: other processes and tools
    (the ``sqlite3`` shell, a backup) may open the file at any time. A forked
    child opens connections of its own.
    """

    @_unavailable
    def __init__(
        self, path: str | os.PathLike, *, busy_timeout: float = 30.0, max_connections: int = MAX_CONNECTIONS
    ) -> None:
        path = os.fspath(path)
        if path in ("", ":memory:") or path.startswith("file:"):
            raise ValueError("SqliteTaskRepository needs a file path; use InMemoryTaskRepository for memory")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
            raise ValueError(f"max_connections must be a positive int, got {max_connections!r}")
        self.path = os.path.abspath(path)  # connections opened later must find the same file
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.busy_timeout = busy_timeout
        self._pool = _Pool(self._open, max_connections, busy_timeout)
        # One writer at a time in this process: waiting here wakes at once, while SQLite's
        # busy handler sleeps in steps of milliseconds (other processes still meet it).
        self._write_lock = threading.Lock()
        if hasattr(os, "register_at_fork"):  # no connection crosses a fork (see _Pool)
            me = weakref.ref(self)
            os.register_at_fork(
                before=functools.partial(_before_fork, me), after_in_child=functools.partial(_after_fork, me)
            )
        with self._pool.connection() as connection:
            connection.executescript(_SCHEMA)
            _add_missing_columns(connection)

    @_unavailable
    def get(self, task_id: str) -> Task | None:
        """The stored task, or ``None``."""
        with self._pool.connection() as connection:
            row = connection.execute(_SELECT, (task_id,)).fetchone()
        return None if row is None else _from_row(row)

    @_unavailable
    def insert(self, task: Task) -> bool:
        """Store a new task unless its id is taken."""
        row = _to_row(task)
        with self._pool.connection() as connection, self._write_lock:
            return connection.execute(_INSERT, row).rowcount == 1

    @_unavailable
    def replace(self, task: Task, expected_version: int) -> bool:
        """Store ``task`` if the stored version is still ``expected_version``."""
        row = (*_to_row(task)[1:], task.task_id, expected_version)
        with self._pool.connection() as connection, self._write_lock:
            return connection.execute(_UPDATE, row).rowcount == 1

    @_unavailable
    def touch(self, attempts: Iterable[tuple[str, int]], now: datetime) -> list[tuple[str, int]]:
        """Heartbeat the running attempts in one transaction; answers those not running."""
        rows = [(_time(now), task_id, attempt) for task_id, attempt in attempts]
        gone = []
        with self._pool.connection() as connection, self._write_lock, connection:
            connection.execute("BEGIN IMMEDIATE")
            for row in rows:
                if connection.execute(_TOUCH, row).rowcount == 0:
                    gone.append((row[1], row[2]))
        return gone

    @_unavailable
    def stale_running(self, heartbeat_before: datetime, limit: int = 100) -> list[Task]:
        """Running tasks whose last heartbeat is older than ``heartbeat_before``."""
        with self._pool.connection() as connection:
            rows = connection.execute(_STALE, (_time(heartbeat_before), limit)).fetchall()
        return [_from_row(row) for row in rows]

    @_unavailable
    def list(
        self,
        status: TaskStatus | None = None,
        *,
        limit: int,
        after: Position | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Page:
        """One page, newest first, from the index on ``(status, create_time, task_id)``."""
        if after is not None and after.create_time is None:
            return Page([], None)  # a position past every task with a time: none here lacks one
        where, values = [], []
        if status is not None:
            where.append("status = ?")
            values.append(TaskStatus(status).value)
        if after is not None:
            where.append("(create_time, task_id) < (?, ?)")
            values += [_time(after.create_time), after.task_id]
        if since is not None:
            where.append("create_time >= ?")
            values.append(_time(since))
        if until is not None:
            where.append("create_time < ?")
            values.append(_time(until))
        query = f"SELECT {', '.join(_COLUMNS)} FROM tasks"
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY create_time DESC, task_id DESC LIMIT ?"
        with self._pool.connection() as connection:
            rows = connection.execute(query, (*values, limit + 1)).fetchall()
        return page_of([_from_row(row) for row in rows], limit)

    @_unavailable
    def delete(self, task_ids: Iterable[str], *, ended_before: datetime | None = None) -> int:
        """Delete the tasks with these ids in one transaction (with ``ended_before``: only if still so)."""
        if ended_before is None:
            query, rows = _DELETE, [(task_id,) for task_id in dict.fromkeys(task_ids)]
        else:
            before = _time(ended_before)
            query, rows = _DELETE_ENDED, [(task_id, before) for task_id in dict.fromkeys(task_ids)]
        if not rows:
            return 0
        with self._pool.connection() as connection, self._write_lock, connection:
            connection.execute("BEGIN IMMEDIATE")
            return connection.executemany(query, rows).rowcount

    @_unavailable
    def finished_before(
        self, time: datetime, status: TaskStatus | None = None, limit: int = 100
    ) -> list[str]:
        """Ids of finished tasks that ended before ``time``, from the index on ``(status, end_time)``."""
        found: list[str] = []
        with self._pool.connection() as connection:
            for value in _finished_statuses(status):
                if len(found) < limit:
                    query = f"SELECT task_id {_FINISHED} LIMIT ?"
                    rows = connection.execute(query, (value, _time(time), limit - len(found)))
                    found += [task_id for (task_id,) in rows]
        return found

    @_unavailable
    def count_finished_before(self, time: datetime, status: TaskStatus | None = None) -> int:
        """How many finished tasks ended before ``time``."""
        with self._pool.connection() as connection:
            return sum(
                connection.execute(f"SELECT COUNT(*) {_FINISHED}", (value, _time(time))).fetchone()[0]
                for value in _finished_statuses(status)
            )

    @_unavailable
    def counts(self) -> dict[TaskStatus, int]:
        """Tasks per status, from the index on ``(status, create_time, task_id)``."""
        with self._pool.connection() as connection:
            rows = connection.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status").fetchall()
        return {status: 0 for status in TaskStatus} | {TaskStatus(value): count for value, count in rows}

    def __repr__(self) -> str:
        return f"SqliteTaskRepository({self.path!r})"

    def close(self) -> None:
        """Close every connection this repository opened; one in use closes when its call ends."""
        self._pool.close()

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            connection.close()
            raise
        return connection


class _Pool:
    """At most ``size`` open connections, each lent to one thread at a time, the last given back first.

    Before a fork, the idle connections are closed: SQLite's connections must
    not cross a fork, and one the child inherited would share SQLite's
    per-file lock bookkeeping with the child's own, so their OS locks would be
    missing. A child forked while a connection was lent to another thread
    refuses to work rather than risk that.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], size: int, timeout: float) -> None:
        self._connect, self._size, self._timeout = connect, size, timeout
        self._idle: list[sqlite3.Connection] = []
        self._open = 0  # idle and lent, of every generation
        self._generation = 0  # close() starts a new one: older connections close when given back
        self._forked_while_lent = False
        self._changed = threading.Condition(threading.Lock())

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for the ``with`` block: an idle one, a new one, or the next one given back."""
        connection, generation = self._borrow()
        try:
            yield connection
        finally:
            self._give_back(connection, generation)

    def close(self) -> None:
        """Close the idle connections now, and the lent ones when they are given back."""
        with self._changed:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._generation += 1
            self._changed.notify_all()
        for connection in idle:
            connection.close()

    def after_fork_in_child(self) -> None:
        """In a forked child: no connection of the parent is used; one lent at the fork poisons the pool."""
        self._forked_while_lent = self._open > 0
        self._idle, self._open, self._generation = [], 0, self._generation + 1
        self._changed = threading.Condition(threading.Lock())  # a thread of the parent may have held it

    def _borrow(self) -> tuple[sqlite3.Connection, int]:
        if self._forked_while_lent:
            raise sqlite3.OperationalError(
                "this process was forked while another thread used a connection of this store; "
                "open a new SqliteTaskRepository in the child"
            )
        with self._changed:
            if not self._changed.wait_for(lambda: self._idle or self._open < self._size, self._timeout):
                raise sqlite3.OperationalError(
                    f"all {self._size} connections stayed in use for {self._timeout} s"
                )
            if self._idle:
                return self._idle.pop(), self._generation
            self._open += 1
            generation = self._generation
        try:
            return self._connect(), generation
        except BaseException:
            self._give_back(None, generation)
            raise

    def _give_back(self, connection: sqlite3.Connection | None, generation: int) -> None:
        with self._changed:
            keep = connection is not None and generation == self._generation
            if keep:
                self._idle.append(connection)
            else:
                self._open -= 1  # closed below, or it could not be opened
            self._changed.notify()
        if not keep and connection is not None:
            connection.close()


def _before_fork(repository_ref: weakref.ref) -> None:
    repository = repository_ref()
    if repository is not None:
        repository._pool.close()


def _after_fork(repository_ref: weakref.ref) -> None:
    repository = repository_ref()
    if repository is not None:
        repository._pool.after_fork_in_child()
        repository._write_lock = threading.Lock()  # a thread of the parent may have held it


#: Columns added since the first schema, for files written before them: name and type.
_ADDED_COLUMNS = {"retries_left": "INTEGER", "retry_time": "TEXT"}


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    """Bring a file written by an older version up to date (another process may be doing it too)."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(tasks)")}
    for name, kind in _ADDED_COLUMNS.items():
        if name not in present:
            try:
                connection.execute(f"ALTER TABLE tasks ADD COLUMN {name} {kind}")
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):
                    raise


def _time(value: datetime | None) -> str | None:
    return None if value is None else utc(value).isoformat(timespec="milliseconds")


def _finished_statuses(status: TaskStatus | None) -> list[str]:
    if status is None:
        return [TaskStatus.SUCCESS.value, TaskStatus.FAILED.value]
    return [TaskStatus(status).value] if TaskStatus(status).finished else []


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
        task.retries_left,
        _time(task.retry_time),
    )


def _from_row(row: tuple) -> Task:
    """A row as a task; every read parses its own copy of the values."""
    (task_id, status, params, create_time, update_time, submit_time, attempt, version,
     result, error, start_time, end_time, heartbeat_time, extra, retries_left, retry_time) = row  # fmt: skip
    return Task(
        task_id=task_id,
        status=status,
        params=json.loads(params),
        create_time=_parse_time(create_time),
        update_time=_parse_time(update_time),
        submit_time=_parse_time(submit_time),
        attempt=attempt,
        version=version,
        result=json.loads(result),
        error=error,
        start_time=_parse_time(start_time),
        end_time=_parse_time(end_time),
        heartbeat_time=_parse_time(heartbeat_time),
        extra=json.loads(extra),
        retries_left=retries_left,
        retry_time=_parse_time(retry_time),
    )
