"""Retention: deleting finished tasks that ended long enough ago, with their log files, in batches."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from asynctask.core import InvalidArgumentError, Policy, TaskRepository, TaskStatus
from asynctask.service.logs import log_path

_log = logging.getLogger("asynctask")
#: How many tasks one batch of a purge deletes in one write.
PURGE_BATCH = 500
#: How long one round of the background loop purges before it lets heartbeats and timeouts run.
PURGE_ROUND_SECONDS = 0.5


def check_age(value: object, name: str = "older_than") -> timedelta:
    """Seconds (int or float, at least 0) or a ``timedelta``: how long ago finished tasks ended."""
    if isinstance(value, timedelta):
        age = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            age = timedelta(seconds=value)
        except (OverflowError, ValueError):
            raise InvalidArgumentError(name, f"{name} is out of range: {value!r}") from None
    else:
        raise InvalidArgumentError(
            name, f"{name} must be seconds (int or float) or a timedelta, got {value!r}"
        )
    if age < timedelta(0):
        raise InvalidArgumentError(name, f"{name} must not be negative, got {value!r}")
    return age


def horizon_of(now: datetime, older_than: object) -> datetime:
    """The ``end_time`` before which finished tasks are deleted: ``now - older_than``, checked."""
    try:
        return now - check_age(older_than)
    except OverflowError:  # older than the first datetime: nothing ended that long ago
        return datetime.min.replace(tzinfo=now.tzinfo)


class Retention:
    """Deletes a store's finished tasks that ended before a horizon, and their logs in ``logger_dir``."""

    def __init__(self, repository: TaskRepository, logger_dir: str, *, batch: int = PURGE_BATCH) -> None:
        self.repository, self.logger_dir, self.batch = repository, logger_dir, batch

    def purge(
        self, horizon: datetime, status: TaskStatus | None = None, *, seconds: float | None = None
    ) -> int:
        """Delete batch after batch, and answer how many were deleted.

        ``seconds``: start no batch after this long (a round of the background
        loop; the next round goes on).
        """
        deleted, deadline = 0, None if seconds is None else time.monotonic() + seconds
        while True:
            candidates = self.repository.finished_before(horizon, status, self.batch)
            if not candidates:
                return deleted
            count = self.repository.delete(candidates, ended_before=horizon)
            deleted += count
            self._remove_logs(candidates, count)
            if count == 0 or len(candidates) < self.batch:
                return deleted
            if deadline is not None and time.monotonic() >= deadline:
                return deleted

    def count(self, horizon: datetime, status: TaskStatus | None = None) -> int:
        """How many tasks ``purge`` would delete now (a dry run)."""
        return self.repository.count_finished_before(horizon, status)

    def _remove_logs(self, candidates: list[str], deleted: int) -> None:
        # A candidate rerun since it was chosen was not deleted, and keeps its log. (A new
        # submission of a deleted id between the delete and the unlink would lose its first
        # lines; its attempt would have to start and log within those microseconds.)
        gone = (
            candidates
            if deleted == len(candidates)
            else [task_id for task_id in candidates if self.repository.get(task_id) is None]
        )
        for task_id in gone:
            try:
                os.unlink(log_path(self.logger_dir, task_id))
            except FileNotFoundError:
                pass
            except OSError as exc:
                _log.warning("could not remove the log of purged task %s: %s", task_id, exc)


class AutoPurge:
    """The background loop's step with ``keep_finished``: a bounded round of purging per call."""

    def __init__(self, retention: Retention, policy: Policy, clock: Callable[[], datetime]) -> None:
        self.retention, self.policy, self.clock = retention, policy, clock

    def __call__(self) -> None:
        horizon = self.policy.purge_horizon(self.clock())
        if horizon is not None:
            deleted = self.retention.purge(horizon, seconds=PURGE_ROUND_SECONDS)
            if deleted:
                _log.info("purged %d finished task(s) that ended before %s", deleted, horizon.isoformat())
