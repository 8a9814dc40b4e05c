"""Cancelling a running task: recorded failed at once, from any process that shares the store.

The process that owns the attempt stops it: at once when the cancel was made
there, else at its next heartbeat round, when the store answers that the
attempt is no longer running (``TaskRepository.touch``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from asynctask.core import (
    CANCELLED_ERROR,
    Task,
    TaskFinishedError,
    TaskNotFoundError,
    TaskRepository,
    UpdateConflictError,
    check_task_id,
)
from asynctask.service.recording import MAX_RACES, Recorder


def cancel_task(
    repository: TaskRepository,
    recorder: Recorder,
    task_id: str,
    unwritten_start: Callable[[int], datetime | None] = lambda attempt: None,
) -> Task:
    """Record the running attempt of ``task_id`` failed with ``CANCELLED_ERROR``; the task as written.

    ``TaskNotFoundError`` for an unknown id, ``TaskFinishedError`` for a task
    that has ended. ``unwritten_start(attempt)``: the start of that attempt if
    it runs here and its start is not in the store yet.
    """
    check_task_id(task_id)
    for _ in range(MAX_RACES):
        stored = repository.get(task_id)
        if stored is None:
            raise TaskNotFoundError(task_id)
        if stored.status.finished:
            raise TaskFinishedError(task_id, stored.status.value)
        began = unwritten_start(stored.attempt)
        written = recorder.change_attempt(
            task_id,
            stored.attempt,
            lambda t, now, began=began: t.failed(CANCELLED_ERROR, now, began),
            known=stored,
        )
        if written is not None:
            return written
        # It ended or was rerun between the read and the write: read again.
    raise UpdateConflictError(f"cancel of task {task_id!r} kept losing races")
