"""An in-memory store for tests and trials: thread-safe, nothing persists."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from datetime import datetime

from attrs import evolve

from asynctask.adapters._json import dumps
from asynctask.core import Task, TaskRepository, TaskStatus

#: A stored task and the JSON text of its params, result and extra fields.
_Record = tuple[Task, str, str, str]


class InMemoryTaskRepository(TaskRepository):
    """Tasks in a dict under a lock; values are kept as JSON, so a get gives a copy, like a real store."""

    def __init__(self) -> None:
        self._tasks: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def get(self, task_id: str) -> Task | None:
        """The stored task, or ``None``."""
        record = self._tasks.get(task_id)
        return None if record is None else _thaw(record)

    def insert(self, task: Task) -> bool:
        """Store a new task unless its id is taken."""
        record = _freeze(task)
        with self._lock:
            if task.task_id in self._tasks:
                return False
            self._tasks[task.task_id] = record
            return True

    def replace(self, task: Task, expected_version: int) -> bool:
        """Store ``task`` if the stored version is still ``expected_version``."""
        record = _freeze(task)
        with self._lock:
            stored = self._tasks.get(task.task_id)
            if stored is None or stored[0].version != expected_version:
                return False
            self._tasks[task.task_id] = record
            return True

    def touch(self, attempts: Iterable[tuple[str, int]], now: datetime) -> None:
        """Heartbeat the running attempts, under one lock."""
        with self._lock:
            for task_id, attempt in attempts:
                task, *values = self._tasks.get(task_id, (None,))
                if task is not None and task.attempt == attempt and task.status is TaskStatus.RUNNING:
                    self._tasks[task_id] = (task.heartbeat(now), *values)

    def stale_running(self, heartbeat_before: datetime, limit: int = 100) -> list[Task]:
        """Running tasks whose last heartbeat is older than ``heartbeat_before``."""
        with self._lock:
            records = list(self._tasks.values())
        stale = [
            record
            for record in records
            if record[0].status is TaskStatus.RUNNING
            and not record[0].never_submitted
            and record[0].last_sign_of_life < heartbeat_before
        ]
        return [_thaw(record) for record in stale[:limit]]

    def __len__(self) -> int:
        """How many tasks are stored."""
        return len(self._tasks)


def _freeze(task: Task) -> _Record:
    return task, dumps(task.params, "params"), dumps(task.result, "result"), dumps(task.extra, "extra fields")


def _thaw(record: _Record) -> Task:
    task, params, result, extra = record
    return evolve(task, params=json.loads(params), result=json.loads(result), extra=json.loads(extra))
