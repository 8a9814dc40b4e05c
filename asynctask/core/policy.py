"""When tasks time out and when finished tasks expire."""

from __future__ import annotations

from datetime import datetime, timedelta

from attrs import field, frozen

from asynctask.core import defaults
from asynctask.core.status import TaskStatus
from asynctask.core.task import Task


def to_timedelta(value: object, name: str) -> timedelta:
    """Read seconds (int/float) or a ``timedelta`` as a positive ``timedelta``.

    Raises ``ValueError`` naming the argument for anything else or a value <= 0.
    """
    if isinstance(value, timedelta):
        delta = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            delta = timedelta(seconds=value)
        except (OverflowError, ValueError) as exc:
            raise ValueError(f"{name} is out of range: {value!r}") from exc
    else:
        raise ValueError(f"{name} must be seconds (int or float) or a timedelta, got {value!r}")
    if delta <= timedelta(0):
        raise ValueError(f"{name} must be greater than zero, got {value!r}")
    return delta


def _task_timeout(value: object) -> timedelta:
    return to_timedelta(value, "task_timeout")


def _rerun_time_limit(value: object) -> timedelta | None:
    return None if value is None else to_timedelta(value, "rerun_time_limit")


def _lease(value: object) -> timedelta | None:
    return None if value is None else to_timedelta(value, "lease")


def _retries(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"retries must be an int of at least 0, got {value!r}")
    return value


def _retry_backoff(value: object) -> timedelta:
    return to_timedelta(value, "retry_backoff")


def _retry_backoff_max(value: object) -> timedelta:
    return to_timedelta(value, "retry_backoff_max")


def _retry_on(value: object) -> tuple[type[BaseException], ...]:
    kinds = (
        (value,) if isinstance(value, type) else tuple(value) if isinstance(value, (tuple, list)) else None
    )
    if kinds is None or not all(isinstance(kind, type) and issubclass(kind, BaseException) for kind in kinds):
        raise ValueError(f"retry_on must be exception classes (a class or a tuple of them), got {value!r}")
    return kinds


def _keep_finished(value: object) -> timedelta | None:
    return None if value is None else to_timedelta(value, "keep_finished")


DEFAULT_TASK_TIMEOUT = defaults.TASK_TIMEOUT
DEFAULT_LEASE = defaults.LEASE


@frozen
class Policy:
    """When tasks are re-opened.

    ``task_timeout`` (from submission) and ``lease`` (since the owner's last
    heartbeat; ``None`` disables it) re-open running tasks;
    ``rerun_time_limit`` re-opens finished ones; finished tasks that ended
    ``keep_finished`` ago are deleted (``None``: kept for ever). A failed
    attempt is retried ``retries`` times at most, after a backoff (see
    ``retry_delay``).
    """

    task_timeout: timedelta = field(default=DEFAULT_TASK_TIMEOUT, converter=_task_timeout)
    rerun_time_limit: timedelta | None = field(default=None, converter=_rerun_time_limit)
    lease: timedelta | None = field(default=DEFAULT_LEASE, converter=_lease)
    keep_finished: timedelta | None = field(default=None, converter=_keep_finished)
    retries: int = field(default=0, converter=_retries)
    retry_backoff: timedelta = field(default=timedelta(seconds=1), converter=_retry_backoff)
    retry_backoff_max: timedelta = field(default=timedelta(seconds=300), converter=_retry_backoff_max)
    retry_on: tuple[type[BaseException], ...] = field(default=(Exception,), converter=_retry_on)

    @property
    def retries_per_submission(self) -> int | None:
        """The retries a new submission may take: ``None`` when the service retries nothing."""
        return self.retries or None

    def retryable(self, error_type: type[BaseException]) -> bool:
        """A failure of this kind may be retried: it is one of ``retry_on``."""
        return issubclass(error_type, self.retry_on)

    def retry_delay(self, task: Task, retryable: bool, jitter: float) -> timedelta | None:
        """How long a failed attempt of ``task`` waits before its retry, or ``None``: it is not retried.

        Retried while ``retries_left`` and the failure is ``retryable``; the
        delay doubles from ``retry_backoff`` with each retry, up to
        ``retry_backoff_max``, with full jitter (``jitter`` in [0, 1) picks
        the point of it).
        """
        if not task.retries_left or not retryable:
            return None
        done = max(self.retries - task.retries_left, 0)  # retries already taken
        ceiling = min(
            self.retry_backoff.total_seconds() * 2.0 ** min(done, 64), self.retry_backoff_max.total_seconds()
        )
        return timedelta(seconds=ceiling * jitter)

    def timed_out(self, task: Task, now: datetime) -> bool:
        """A running attempt submitted ``task_timeout`` ago or more: it is failed with ``TimeoutError``."""
        running = task.status is TaskStatus.RUNNING and not task.never_submitted
        return running and now - task.submit_time >= self.task_timeout

    def orphaned(self, task: Task, now: datetime) -> bool:
        """A running attempt whose owner gave no sign of life for longer than ``lease``: its process is gone.

        Stores list such tasks with ``stale_running(now - lease)``, by the same rule.
        """
        return (
            self.lease is not None
            and task.status is TaskStatus.RUNNING
            and not task.never_submitted
            and task.last_sign_of_life < now - self.lease
        )

    def expired(self, task: Task, now: datetime) -> bool:
        """A successful task last updated over ``rerun_time_limit`` ago: the next submission reruns it."""
        limit = self.rerun_time_limit
        return limit is not None and task.status is TaskStatus.SUCCESS and now - task.update_time > limit

    def purge_horizon(self, now: datetime) -> datetime | None:
        """Finished tasks that ended before this are deleted, with their logs; ``None``: none are.

        Stores list them with ``finished_before(horizon)``, by the same rule.
        """
        return None if self.keep_finished is None else now - self.keep_finished
