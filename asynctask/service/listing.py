"""Listing tasks: the rules of its arguments, the opaque cursor, and one page of details.

The same rules serve ``AsyncTask.list_tasks``, ``GET {endpoint}/tasks`` and
``asynctask list``; a bad argument raises ``InvalidArgumentError`` (a
``ValueError``) naming it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from attrs import frozen

from asynctask.core import MAX_PAGE, InvalidArgumentError, Page, Position, TaskRepository, TaskStatus, utc

#: How many tasks a page holds unless asked otherwise.
DEFAULT_PAGE = 50
_STATUSES = ", ".join(status.value for status in TaskStatus)


@frozen
class ListQuery:
    """The checked arguments of one listing."""

    status: TaskStatus | None
    limit: int
    after: Position | None
    since: datetime | None
    until: datetime | None

    @classmethod
    def check(
        cls,
        status: object = None,
        limit: object = DEFAULT_PAGE,
        cursor: object = None,
        since: object = None,
        until: object = None,
    ) -> ListQuery:
        """The query these arguments ask for, or ``InvalidArgumentError`` naming the first bad one."""
        return cls(
            check_status(status),
            check_count(limit, "limit", 1, MAX_PAGE),
            decode_cursor(cursor),
            check_time(since, "since"),
            check_time(until, "until"),
        )

    def page(self, repository: TaskRepository) -> Page:
        """The page of ``repository`` this query names."""
        return repository.list(
            self.status, limit=self.limit, after=self.after, since=self.since, until=self.until
        )


def check_status(value: object, *, finished: bool = False) -> TaskStatus | None:
    """``None``, or a status by its name; ``finished``: only ``success`` or ``failed``."""
    if value is None:
        return None
    try:
        status = TaskStatus(value)
    except ValueError:
        raise InvalidArgumentError("status", f"status must be one of {_STATUSES}, got {value!r}") from None
    if finished and not status.finished:
        raise InvalidArgumentError(
            "status", "status must be success or failed: running tasks are never purged"
        )
    return status


def check_count(value: object, name: str, low: int, high: int | None = None) -> int:
    """An int from ``low`` to ``high`` (``None``: no upper bound)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise InvalidArgumentError(name, f"{name} must be an integer {bounds}, got {value!r}")
    return value


def check_time(value: object, name: str) -> datetime | None:
    """``None``, an aware datetime, or an RFC 3339 time (``2026-12-01T08:00:00Z``), to the millisecond."""
    if value is None:
        return None
    if isinstance(value, str):
        value = _parse_time(value, name)
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidArgumentError(name, f"{name} must be a timezone-aware datetime or an RFC 3339 time")
    try:
        return utc(value)
    except OverflowError:  # in year 1 or 9999 with an offset that takes it out of range in UTC
        return _FIRST if value.year == 1 else _LAST


def _parse_time(text: str, name: str) -> datetime:
    match = _RFC3339.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        date, clock, fraction, offset = match.groups()
        offset = "+00:00" if offset in ("Z", "z") else offset
        return datetime.fromisoformat(f"{date}T{clock}.{(fraction or '').ljust(6, '0')[:6]}{offset}")
    except ValueError:
        raise InvalidArgumentError(
            name, f"{name} must be an RFC 3339 time such as 2026-12-01T08:00:00Z, got {text[:40]!r}"
        ) from None


#: RFC 3339's date-time (JSON Schema's ``date-time`` format): a date, a time and an offset.
_RFC3339 = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def encode_cursor(position: Position | None) -> str | None:
    """The opaque cursor of a position, ``None`` for the last page.

    It is ``<create_time in ms since 1970, or n>.<task_id as UTF-8 hex>``:
    every string of that form (``CURSOR_PATTERN``) is a usable position, so a
    client can only get it wrong by its form.
    """
    if position is None:
        return None
    time = "n" if position.create_time is None else str(round(position.create_time.timestamp() * 1000))
    return f"{time}.{position.task_id.encode('utf-8', 'surrogatepass').hex()}"


def decode_cursor(cursor: object) -> Position | None:
    """The position a cursor of ``encode_cursor`` stands for; ``None``: the first page."""
    if cursor is None:
        return None
    if not isinstance(cursor, str) or not _CURSOR.fullmatch(cursor):
        raise InvalidArgumentError(
            "cursor", f"cursor must be a next_cursor answered by a listing, got {cursor!r}"
        )
    time, _, task_id = cursor.partition(".")
    milliseconds = None if time == "n" else min(max(int(time), _EARLIEST_MS), _LATEST_MS)
    when = None if milliseconds is None else _EPOCH + timedelta(milliseconds=milliseconds)
    return Position(when, bytes.fromhex(task_id).decode("utf-8", "replace"))


#: The form of every cursor (a JSON Schema and Python ``re`` pattern alike).
CURSOR_PATTERN = r"^(-?[0-9]{1,16}|n)\.([0-9a-f]{2})*$"
_CURSOR = re.compile(CURSOR_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_FIRST, _LAST = datetime.min.replace(tzinfo=timezone.utc), datetime.max.replace(tzinfo=timezone.utc)
# Times beyond what a datetime holds stand for the earliest and the latest ones.
_EARLIEST_MS = (_FIRST - _EPOCH) // timedelta(milliseconds=1)
_LATEST_MS = (_LAST - _EPOCH) // timedelta(milliseconds=1)
