"""The immutable task record and the verbs that change it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from attrs import field, fields, frozen

from asynctask.core.errors import IllegalTransitionError
from asynctask.core.status import TaskStatus

RUNNING, SUCCESS, FAILED = TaskStatus.RUNNING, TaskStatus.SUCCESS, TaskStatus.FAILED

#: The legal transitions: each verb, and the statuses it may start from.
TRANSITIONS: Mapping[str, frozenset[TaskStatus]] = {
    "resubmit": frozenset(TaskStatus),
    "start": frozenset({RUNNING}),
    "succeed": frozenset({RUNNING}),
    "fail": frozenset({RUNNING}),
    "update": frozenset(TaskStatus),
}

#: Fields the lifecycle owns; ``update`` may not touch them.
MANAGED_FIELDS = frozenset(
    {
        "task_id",
        "params",
        "create_time",
        "update_time",
        "submit_time",
        "start_time",
        "end_time",
        "heartbeat_time",
        "attempt",
        "version",
        "extra",
    }
)


def utc(value: datetime) -> datetime:
    """An aware datetime as UTC, truncated to milliseconds (what every store keeps)."""
    if value.__class__ is datetime and value.tzinfo is timezone.utc and not value.microsecond % 1000:
        return value  # canonical already: the common case on every change of a task
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"expected a timezone-aware datetime, got {value!r}")
    value = value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _optional_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def _task_id(instance: Task, attribute: Any, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"task_id must be a non-empty string, got {value!r}")


@frozen
class Task:
    """One task as stored: its params, where it is in its lifecycle, and its outcome.

    ``attempt`` grows with each (re)submission and fences late results;
    ``version`` grows with each change and is what compare-and-set compares;
    ``heartbeat_time`` is the last sign of life of the process that owns a
    running attempt (heartbeats do not change ``version``).
    """

    task_id: str = field(validator=_task_id)
    status: TaskStatus = field(converter=TaskStatus)
    params: dict = field(converter=dict)
    create_time: datetime = field(converter=utc)
    update_time: datetime = field(converter=utc)
    submit_time: datetime = field(converter=utc)
    attempt: int = 1
    version: int = 1
    result: Any = None
    error: str | None = None
    start_time: datetime | None = field(default=None, converter=_optional_utc)
    end_time: datetime | None = field(default=None, converter=_optional_utc)
    heartbeat_time: datetime | None = field(default=None, converter=_optional_utc)
    extra: dict = field(factory=dict, converter=dict)

    @classmethod
    def submitted(cls, task_id: str, params: Mapping, now: datetime) -> Task:
        """A new task, running from this submission on."""
        now = utc(now)  # once, not once per time field
        return cls(task_id, RUNNING, params, now, now, now, heartbeat_time=now)

    def resubmitted(self, now: datetime, params: Mapping | None = None) -> Task:
        """A new attempt of this task: running again, with no trace of the last outcome."""
        return self._change(
            "resubmit",
            now,
            status=RUNNING,
            params=self.params if params is None else params,
            submit_time=now,
            attempt=self.attempt + 1,
            result=None,
            error=None,
            start_time=None,
            end_time=None,
            heartbeat_time=now,
        )

    def started(self, now: datetime, at: datetime | None = None) -> Task:
        """The attempt has begun executing, at ``at`` (default: ``now``); a sign of life of its owner too."""
        return self._change("start", now, start_time=now if at is None else at, heartbeat_time=now)

    def succeeded(self, result: Any, now: datetime, started_at: datetime | None = None) -> Task:
        """The attempt returned ``result``; ``started_at``: its start, if not recorded yet."""
        start = self._unrecorded_start(started_at)
        return self._change("succeed", now, status=SUCCESS, result=result, end_time=now, **start)

    def failed(self, error: str, now: datetime, started_at: datetime | None = None) -> Task:
        """The attempt ended with ``error`` (traceback); ``started_at``: its start, if not recorded yet."""
        return self._change(
            "fail", now, status=FAILED, error=error, end_time=now, **self._unrecorded_start(started_at)
        )

    def updated(self, data: Mapping[str, Any], now: datetime, started_at: datetime | None = None) -> Task:
        """Apply a user's ``update_task`` data: ``status``/``result``/``error`` and extra fields.

        ``started_at``: the start of the attempt, if not recorded yet.
        """
        managed = sorted(MANAGED_FIELDS.intersection(data))
        if managed:
            raise IllegalTransitionError(f"fields managed by AsyncTask cannot be updated: {managed}")
        changes = {key: data[key] for key in ("status", "result", "error") if key in data}
        extra = {key: value for key, value in data.items() if key not in changes}
        if "status" in changes:
            changes["status"] = TaskStatus(changes["status"])
            if changes["status"].finished and self.end_time is None:
                changes["end_time"] = now
        changes.update(self._unrecorded_start(started_at))
        return self._change("update", now, extra={**self.extra, **extra}, **changes)

    def heartbeat(self, now: datetime) -> Task:
        """A sign of life of the owner of the running attempt: not a change, so ``version`` stays."""
        return self.with_canonical(heartbeat_time=utc(now))

    def with_canonical(self, **values: Any) -> Task:
        """Like ``attrs.evolve`` for values already in canonical form: no converter runs."""
        task = object.__new__(Task)
        for name, slot in _SLOTS:
            slot.__set__(task, values[name] if name in values else slot.__get__(self))
        return task

    @classmethod
    def restore(cls, values: Mapping[str, Any]) -> Task:
        """A task from values that are already in canonical form (a store's own rows).

        No converter or validator runs: for adapters reading what they wrote,
        on the hot path. Anything else goes through ``Task(...)``.
        """
        task = object.__new__(cls)
        for name, slot in _SLOTS:
            slot.__set__(task, values[name])  # the slot itself: no frozen __setattr__ on the way
        return task

    def _unrecorded_start(self, started_at: datetime | None) -> dict:
        return {"start_time": started_at} if started_at is not None and self.start_time is None else {}

    def _change(self, verb: str, now: datetime, **changes: Any) -> Task:
        if self.status not in TRANSITIONS[verb]:
            raise IllegalTransitionError(f"cannot {verb} task {self.task_id!r}: it is {self.status.value}")
        # Convert only what changes (the rest is canonical already), and ``now`` only once.
        stamp = utc(now)
        for name, value in changes.items():
            convert = _CONVERTERS.get(name)
            if convert is not None:
                changes[name] = stamp if value is now and convert in _TIME_CONVERTERS else convert(value)
        return self.with_canonical(version=self.version + 1, update_time=stamp, **changes)


_FIELD_NAMES = tuple(attribute.name for attribute in fields(Task))
_SLOTS = tuple((name, Task.__dict__[name]) for name in _FIELD_NAMES)  # each field's slot descriptor
_CONVERTERS = {attribute.name: attribute.converter for attribute in fields(Task) if attribute.converter}
_TIME_CONVERTERS = (utc, _optional_utc)
