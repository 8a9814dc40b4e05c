"""The asynctask contestant as a gunicorn app factory, configured by environment variables.

``BENCH_STORE``: ``memory://``, ``sqlite:///path`` or ``mongomock``;
``BENCH_PREFILL``: finished tasks to store before serving (memory only: a
SQLite file is filled by ``prefill_sqlite`` before the server starts);
``BENCH_MIXED``: tasks of the realistic mix (``mixed``) to store before serving
(memory only: ``seed_sqlite`` fills a SQLite file before the server starts);
``BENCH_LOG_DIR``: the task log folder; ``BENCH_MAX_WORKER``: job threads;
``BENCH_TASK``: the served task class, one of ``TASKS`` (default ``plain``;
the features section serves each of them).
"""

from __future__ import annotations

import inspect
import os
import random
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from attrs import evolve
from flask import Flask

from asynctask import AsyncTask, Task, TaskRepository
from asynctask.adapters import sqlite as sqlite_adapter

try:
    from asynctask.adapters.urls import open_repository, sqlite_path
except ImportError:  # a tree from before the service package (BENCH_ASYNCTASK_PATH)
    from asynctask.stores import open_repository, sqlite_path
from benchmarks.baselines import JOB_WORKERS, job


class NoOp(AsyncTask):
    """The benchmark job: nothing, or a sleep."""

    def main(self, sleep: float = 0.0, logger=None) -> dict:
        return job(sleep)


class NoOpProgress(AsyncTask):
    """The benchmark job reporting its progress once: what a ``main`` declaring ``progress`` costs."""

    def main(self, sleep: float = 0.0, progress=None, logger=None) -> dict:
        result = job(sleep)
        progress(1.0, "done")
        return result


#: ``BENCH_TASK``: the served task class and its service options. ``retries``: the no-op job
#: served with ``retries=3``; no job fails, so it measures the bookkeeping alone. Every row but
#: ``metrics`` and ``metrics-multi`` counts no metrics, as without ``asynctask[metrics]``.
#: ``metrics`` counts in the worker's memory, as ``asynctask serve`` with one worker does;
#: ``metrics-multi`` in multiprocess mode (the server's environment sets ``PROMETHEUS_MULTIPROC_DIR``),
#: as ``serve --workers 2`` or more does.
TASKS: dict[str, tuple[type[AsyncTask], dict]] = {
    "plain": (NoOp, {"metrics": False}),
    "progress": (NoOpProgress, {"metrics": False}),
    "retries": (NoOp, {"retries": 3, "metrics": False}),
    "metrics": (NoOp, {"metrics": True}),
    "metrics-multi": (NoOp, {"metrics": True}),
}
#: The variants whose server counts in multiprocess mode.
MULTIPROCESS = ("metrics-multi",)


def supported(options: dict) -> dict:
    """``options`` the served tree's ``AsyncTask`` takes (one from before metrics has no ``metrics``)."""
    accepted = inspect.signature(AsyncTask.__init__).parameters
    return {name: value for name, value in options.items() if name in accepted}


def create() -> Flask:
    """The app gunicorn serves: ``benchmarks.apps:create()``."""
    repository = repository_for(os.environ.get("BENCH_STORE", "memory://"))
    prefill_memory(repository, int(os.environ.get("BENCH_PREFILL", "0")))
    seed_memory(repository, int(os.environ.get("BENCH_MIXED", "0")))
    task, options = TASKS[os.environ.get("BENCH_TASK", "plain")]
    service = task(
        repository=repository,
        logger_dir=os.environ["BENCH_LOG_DIR"],
        max_worker=JOB_WORKERS,
        **supported(options),
    )
    return service.app("/api")


def prefilled_id(index: int) -> str:
    """The id of the ``index``-th prefilled task (what the scaling workload asks for)."""
    return f"pre-{index:07d}"


def finished_task(task_id: str) -> Task:
    """A task that ran and succeeded, as the prefill stores it."""
    now = datetime.now(timezone.utc)
    return Task.submitted(task_id, {}, now).started(now).succeeded({"ok": True}, now)


def prefill_memory(repository: TaskRepository, count: int) -> None:
    """Insert ``count`` finished tasks one by one, through the port, in the serving process."""
    template = finished_task(prefilled_id(0))
    for index in range(count):
        repository.insert(evolve(template, task_id=prefilled_id(index)))


def prefill_sqlite(url: str, count: int) -> None:
    """Insert ``count`` finished tasks into a SQLite store in one transaction.

    It borrows the adapter's private row conversion (``_to_row``, ``_INSERT``)
    so that 10^6 rows take seconds, not minutes; the rows are exactly what
    ``insert`` would write.
    """
    repository = sqlite_adapter.SqliteTaskRepository(sqlite_path(url))  # creates the schema
    repository.close()
    row = sqlite_adapter._to_row(finished_task(prefilled_id(0)))
    rows = ((prefilled_id(index), *row[1:]) for index in range(count))
    connection = sqlite3.connect(sqlite_path(url), isolation_level=None)
    with connection:
        connection.execute("BEGIN")
        connection.executemany(sqlite_adapter._INSERT, rows)
    connection.close()


#: The realistic mix: this share of the tasks failed, the others succeeded, bar one in
#: ``RUNNING_EVERY`` (at least one) still running among the newest; create times spread evenly.
FAILED_SHARE = 0.1
RUNNING_EVERY = 10_000
SPAN = timedelta(days=30)
#: What a failed task of the mix holds: a traceback of the usual length.
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/app/jobs.py", line 42, in main\n    total = fetch(params["source"])\n'
    '  File "/srv/app/jobs.py", line 17, in fetch\n    raise ValueError(f"no such source: {source}")\n'
    "ValueError: no such source: s3://bucket/missing.csv\n"
)
_MS = timedelta(milliseconds=1)


def mixed(
    count: int,
    *,
    prefix: str = "pre-",
    end: datetime | None = None,
    span: timedelta = SPAN,
    running: bool = True,
    seed: int = 0,
) -> Iterator[tuple[str, str, datetime, datetime | None]]:
    """``(task_id, status, create_time, end_time)`` of ``count`` tasks, oldest first, created within
    ``span`` before ``end`` (default: now); ids ``prefix`` + 7 digits.

    Each task failed with probability ``FAILED_SHARE`` (a fixed pseudo-random
    draw) or succeeded, 5 ms to 2 s after it was created; the newest
    ``count // RUNNING_EVERY`` (at least one, unless ``running`` is false) are
    still running.
    """
    end = end or datetime.now(timezone.utc)
    end = end.replace(microsecond=end.microsecond // 1000 * 1000)  # stores keep milliseconds
    step_ms = max(int(span / _MS) // max(count, 1), 1)
    first = end - step_ms * count * _MS
    draw = random.Random(seed).random
    still_running = max(count // RUNNING_EVERY, 1) if running else 0
    for index in range(count):
        created = first + index * step_ms * _MS
        task_id = f"{prefix}{index:07d}"
        if index >= count - still_running:
            yield task_id, "running", created, None
        else:
            status = "failed" if draw() < FAILED_SHARE else "success"
            yield task_id, status, created, created + int(5 + draw() * 1995) * _MS


def mixed_templates() -> dict[str, Task]:
    """One task per status, as the service stores them; the mix varies their ids and times."""
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    running = Task.submitted("template", {"sleep": 0.0}, now).started(now)
    return {
        "running": running,
        "success": running.succeeded({"ok": True}, now),
        "failed": running.failed(TRACEBACK, now),
    }


def seed_memory(repository: TaskRepository, count: int, **mix) -> None:
    """Insert ``count`` tasks of the mix one by one, through the port (in the serving process)."""
    templates = mixed_templates()
    for task_id, status, created, ended in mixed(count, **mix):
        repository.insert(
            evolve(
                templates[status], task_id=task_id, create_time=created, submit_time=created,
                start_time=created, heartbeat_time=created, end_time=ended, update_time=ended or created,
            )
        )  # fmt: skip


def seed_sqlite(path: str, count: int, **mix) -> None:
    """Insert ``count`` tasks of the mix into a SQLite store (created if need be) in one transaction.

    The repository creates the schema and converts one template task per
    status (``_to_row``); the rows of the mix are those rows with their ids and
    times replaced, written with the adapter's own ``_INSERT`` through the
    ``sqlite3`` module (10^6 rows in seconds rather than minutes); ids taken
    already are left alone, as ``insert`` would.
    """
    sqlite_adapter.SqliteTaskRepository(path).close()  # creates the schema
    templates = {
        status: dict(zip(sqlite_adapter._COLUMNS, sqlite_adapter._to_row(task), strict=True))
        for status, task in mixed_templates().items()
    }
    time = sqlite_adapter._time

    def rows() -> Iterator[tuple]:
        for task_id, status, created, ended in mixed(count, **mix):
            row, start, end = dict(templates[status]), time(created), time(ended)
            row.update(task_id=task_id, create_time=start, submit_time=start, start_time=start)
            row.update(heartbeat_time=start, end_time=end, update_time=end or start)
            yield tuple(row.values())  # in the order of _COLUMNS, as _INSERT names them

    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN")
        connection.executemany(sqlite_adapter._INSERT, rows())
        connection.execute("COMMIT")
    finally:
        connection.close()


def repository_for(store: str) -> TaskRepository:
    """The store a ``BENCH_STORE`` value names (``mongomock``: an in-process fake MongoDB)."""
    if store != "mongomock":
        return open_repository(store)
    import mongomock

    from asynctask.adapters.mongo import MongoTaskRepository

    return MongoTaskRepository(mongomock.MongoClient(tz_aware=True).bench.tasks)
