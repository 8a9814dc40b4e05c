"""Automatic retries: how a failure is recorded (retried after a backoff, or failed), and the retries waiting.

A retry is in the store as soon as the failure is: a new attempt, running
and not started, with its ``retry_time``. The process that wrote it keeps it
here until that time, heartbeats it meanwhile, and then hands it to the
executor from its background loop, never from a worker thread. If that
process dies, ``resume`` elsewhere takes the retry over with its schedule.
"""

from __future__ import annotations

import heapq
import random
import threading
from collections.abc import Callable
from datetime import datetime

from asynctask.core import Policy, Task
from asynctask.core.errors import RemoteTaskError
from asynctask.service.recording import Change


class Retries:
    """The retry rule of one service, and its retries waiting for their time."""

    def __init__(self, policy: Policy, jitter: Callable[[], float] = random.random) -> None:
        self.policy, self.jitter = policy, jitter
        self._waiting: list[tuple[datetime, str, int]] = []  # a heap by retry_time
        self._lock = threading.Lock()
        self.on_scheduled: Callable[[], None] = lambda: None  # the background loop wakes for it

    def failure(
        self, error: str, retryable: bool, started_at: datetime | None = None, progress: dict | None = None
    ) -> Change:
        """The change that records a failed attempt: a retry after its backoff, or ``failed``.

        ``progress``: the attempt's last progress, not recorded yet: it goes with the failure.
        """

        def change(stored: Task, now: datetime) -> Task:
            delay = self.policy.retry_delay(stored, retryable, self.jitter())
            if delay is None:
                return stored.failed(error, now, started_at, progress)
            return stored.retried(now, now + delay, progress)

        return change

    def for_exception(
        self, exc: BaseException, error: str, started_at: datetime | None = None, progress: dict | None = None
    ) -> Change:
        """``failure`` for an exception ``main`` raised, here or in another process."""
        if isinstance(exc, RemoteTaskError):  # where it ran, its type was matched against retry_on
            retryable = exc.retryable
        else:
            retryable = self.policy.retryable(type(exc))
        return self.failure(error, retryable, started_at, progress)

    def written(self, task: Task) -> None:
        """A write went to the store: a retry that waits is this process's to run."""
        if task.awaiting_retry:
            with self._lock:
                heapq.heappush(self._waiting, (task.retry_time, task.task_id, task.attempt))
            self.on_scheduled()

    def due(self, now: datetime) -> list[tuple[str, int]]:
        """The ``(task_id, attempt)`` of the retries whose time has come (``discard`` each once it runs)."""
        with self._lock:
            return [(task_id, attempt) for due, task_id, attempt in sorted(self._waiting) if due <= now]

    def next_due(self) -> datetime | None:
        """When the first waiting retry is due, if any."""
        with self._lock:
            return self._waiting[0][0] if self._waiting else None

    def waiting(self) -> list[tuple[str, int]]:
        """The retries this process heartbeats while they wait."""
        with self._lock:
            return [(task_id, attempt) for _, task_id, attempt in self._waiting]

    def postpone(self, task_id: str, attempt: int, until: datetime) -> None:
        """Make a waiting retry due at ``until`` instead (it could not start now)."""
        with self._lock:
            self._waiting = [
                (until, t, a) if (t, a) == (task_id, attempt) else (due, t, a) for due, t, a in self._waiting
            ]
            heapq.heapify(self._waiting)

    def discard(self, task_id: str, attempt: int) -> bool:
        """Forget a waiting retry (it was cancelled or taken over elsewhere); whether it was here."""
        with self._lock:
            kept = [entry for entry in self._waiting if entry[1:] != (task_id, attempt)]
            found = len(kept) != len(self._waiting)
            self._waiting = kept
            heapq.heapify(self._waiting)
        return found
