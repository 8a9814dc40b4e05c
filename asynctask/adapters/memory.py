"""An in-memory store for tests and trials: thread-safe, nothing persists."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime

from attrs import evolve

from asynctask.adapters._json import copy_values
from asynctask.core import Task, TaskRepository, TaskStatus


class InMemoryTaskRepository(TaskRepository):
    """Tasks in a dict under a lock; values are copied as JSON, like a real store would."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._lock = threading.Lock()

    def get(self, task_id: str) -> Task | None:
        """The stored task, or ``None``."""
        task = self._tasks.get(task_id)
        return None if task is None else copy_values(task)

    def insert(self, task: Task) -> bool:
        """Store a new task unless its id is taken."""
        task = copy_values(task)
        with self._lock:
            if task.task_id in self._tasks:
                return False
            self._tasks[task.task_id] = task
            return True

    def replace(self, task: Task, expected_version: int) -> bool:
        """Store ``task`` if the stored version is still ``expected_version``."""
        task = copy_values(task)
        with self._lock:
            stored = self._tasks.get(task.task_id)
            if stored is None or stored.version != expected_version:
                return False
            self._tasks[task.task_id] = task
            return True

    def touch(self, attempts: Iterable[tuple[str, int]], now: datetime) -> None:
        """Heartbeat the running attempts, under one lock."""
        with self._lock:
            for task_id, attempt in attempts:
                stored = self._tasks.get(task_id)
                if stored is not None and stored.attempt == attempt and stored.status is TaskStatus.RUNNING:
                    self._tasks[task_id] = evolve(stored, heartbeat_time=now)

    def stale_running(self, heartbeat_before: datetime, limit: int = 100) -> list[Task]:
        """Running tasks whose last heartbeat is older than ``heartbeat_before``."""
        with self._lock:
            tasks = list(self._tasks.values())
        stale = [
            task
            for task in tasks
            if task.status is TaskStatus.RUNNING
            and (task.heartbeat_time or task.submit_time) < heartbeat_before
        ]
        return [copy_values(task) for task in stale[:limit]]

    def __len__(self) -> int:
        return len(self._tasks)
