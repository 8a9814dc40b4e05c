"""An in-memory store for tests and trials: thread-safe, nothing persists."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime

from asynctask.adapters._json import Frozen, freeze, thaw
from asynctask.core import Task, TaskRepository, TaskStatus


class InMemoryTaskRepository(TaskRepository):
    """Tasks in a dict under a lock; values are kept as JSON, so a get gives a copy, like a real store."""

    def __init__(self) -> None:
        self._tasks: dict[str, tuple[Task, Frozen]] = {}
        self._lock = threading.Lock()

    def get(self, task_id: str) -> Task | None:
        """The stored task, or ``None``."""
        stored = self._tasks.get(task_id)
        return None if stored is None else thaw(*stored)

    def insert(self, task: Task) -> bool:
        """Store a new task unless its id is taken."""
        record = (task, freeze(task))
        with self._lock:
            if task.task_id in self._tasks:
                return False
            self._tasks[task.task_id] = record
            return True

    def replace(self, task: Task, expected_version: int) -> bool:
        """Store ``task`` if the stored version is still ``expected_version``."""
        # Values this change did not touch keep their text; the version check below guards the reuse.
        record = (task, freeze(task, self._tasks.get(task.task_id)))
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
                task, frozen = self._tasks.get(task_id, (None, None))
                if task is not None and task.attempt == attempt and task.status is TaskStatus.RUNNING:
                    self._tasks[task_id] = (task.heartbeat(now), frozen)

    def stale_running(self, heartbeat_before: datetime, limit: int = 100) -> list[Task]:
        """Running tasks whose last heartbeat is older than ``heartbeat_before``."""
        with self._lock:
            records = list(self._tasks.values())
        stale = [
            record
            for record in records
            if record[0].status is TaskStatus.RUNNING
            and (record[0].heartbeat_time or record[0].submit_time) < heartbeat_before
        ]
        return [thaw(*record) for record in stale[:limit]]

    def __len__(self) -> int:
        return len(self._tasks)
