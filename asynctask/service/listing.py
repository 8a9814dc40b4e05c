"""Listing tasks: the rules of its arguments, the opaque cursor, and one page of details.

The same rules serve ``AsyncTask.list_tasks``, ``GET {endpoint}/tasks`` and
``asynctask list``; a bad argument raises ``InvalidArgumentError`` (a
``ValueError``) naming it.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timezone

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
    if value is None or value == "":
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
    """``None``, an aware datetime, or an ISO 8601 string (UTC when it has no offset), to the millisecond."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
        except ValueError:
            raise InvalidArgumentError(
                name, f"{name} must be an ISO 8601 time such as 2026-12-01T08:00:00Z, got {value!r}"
            ) from None
        value = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidArgumentError(name, f"{name} must be a timezone-aware datetime or an ISO 8601 string")
    return utc(value)


def encode_cursor(position: Position | None) -> str | None:
    """The opaque cursor of a position: URL-safe text, ``None`` for the last page."""
    if position is None:
        return None
    time = None if position.create_time is None else position.create_time.isoformat(timespec="milliseconds")
    text = json.dumps([time, position.task_id], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: object) -> Position | None:
    """The position a cursor of ``encode_cursor`` stands for; ``None`` or ``""``: the first page."""
    if cursor is None or cursor == "":
        return None
    try:
        if not isinstance(cursor, str):
            raise TypeError
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
        time, task_id = json.loads(text)
        if not isinstance(task_id, str) or not task_id:
            raise TypeError
        return Position(None if time is None else utc(datetime.fromisoformat(time)), task_id)
    except (TypeError, ValueError, binascii.Error):
        raise InvalidArgumentError(
            "cursor", f"cursor must be a next_cursor answered by a listing, got {cursor!r}"
        ) from None
