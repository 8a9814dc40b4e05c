"""When tasks time out and when finished tasks expire."""

from __future__ import annotations

from datetime import timedelta

from attrs import field, frozen


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


DEFAULT_TASK_TIMEOUT = timedelta(hours=4)
DEFAULT_LEASE = timedelta(seconds=60)


@frozen
class Policy:
    """When tasks are re-opened.

    ``task_timeout`` (from submission) and ``lease`` (since the owner's last
    heartbeat; ``None`` disables it) re-open running tasks;
    ``rerun_time_limit`` re-opens finished ones.
    """

    task_timeout: timedelta = field(default=DEFAULT_TASK_TIMEOUT, converter=_task_timeout)
    rerun_time_limit: timedelta | None = field(default=None, converter=_rerun_time_limit)
    lease: timedelta | None = field(default=DEFAULT_LEASE, converter=_lease)
