"""The asynctask contestant as a gunicorn app factory, configured by environment variables.

``BENCH_STORE``: ``memory://``, ``sqlite:///path`` or ``mongomock``;
``BENCH_PREFILL``: finished tasks to store before serving (memory only: a
SQLite file is filled by ``prefill_sqlite`` before the server starts);
``BENCH_LOG_DIR``: the task log folder; ``BENCH_MAX_WORKER``: job threads.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone

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


def create() -> Flask:
    """The app gunicorn serves: ``benchmarks.apps:create()``."""
    repository = repository_for(os.environ.get("BENCH_STORE", "memory://"))
    prefill_memory(repository, int(os.environ.get("BENCH_PREFILL", "0")))
    service = NoOp(repository=repository, logger_dir=os.environ["BENCH_LOG_DIR"], max_worker=JOB_WORKERS)
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


def repository_for(store: str) -> TaskRepository:
    """The store a ``BENCH_STORE`` value names (``mongomock``: an in-process fake MongoDB)."""
    if store != "mongomock":
        return open_repository(store)
    import mongomock

    from asynctask.adapters.mongo import MongoTaskRepository

    return MongoTaskRepository(mongomock.MongoClient(tz_aware=True).bench.tasks)
