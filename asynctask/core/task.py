"""The immutable task record and the verbs that change it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from attrs import evolve, field, frozen

from asynctask.core.errors import IllegalTransitionError
from asynctask.core.ids import check_task_id
from asynctask.core.status import TaskStatus

RUNNING, SUCCESS, FAILED = TaskStatus.RUNNING, TaskStatus.SUCCESS, TaskStatus.FAILED
_ANY, _FINISHED = frozenset(TaskStatus), frozenset({SUCCESS, FAILED})

#: The legal transitions: for each verb, the statuses it may start from, and where each may go.
#: ``update`` (the user's ``update_task``) may finish a running task or change how a finished one
#: ended, but never makes a finished task running again: that is a rerun, by a new submission.
TRANSITIONS: Mapping[str, Mapping[TaskStatus, frozenset[TaskStatus]]] = {
    "resubmit": {status: frozenset({RUNNING}) for status in TaskStatus},
    "retry": {RUNNING: frozenset({RUNNING})},
    "reclaim": {RUNNING: frozenset({RUNNING})},
    "dispatch": {RUNNING: frozenset({RUNNING})},
    "start": {RUNNING: frozenset({RUNNING})},
    "succeed": {RUNNING: frozenset({SUCCESS})},
    "fail": {RUNNING: frozenset({FAILED})},
    "update": {RUNNING: _ANY, SUCCESS: _FINISHED, FAILED: _FINISHED},
}

#: Fields the lifecycle owns; ``update`` may not touch them.
MANAGED_FIELDS = frozenset(
    {
        "task_id",
        "create_time",
        "update_time",
        "submit_time",
        "start_time",
        "end_time",
        "heartbeat_time",
        "attempt",
        "version",
        "extra",
        "retries_left",
        "retry_time",
    }
)
#: The extra field the progress of an attempt is kept in; a new attempt starts with it ``None``.
PROGRESS_FIELD = "progress"
#: What ``update`` sets on the task itself; any other key becomes an extra field.
_UPDATABLE = ("status", "params", "result", "error")


def utc(value: datetime) -> datetime:
    """An aware datetime as UTC, truncated to milliseconds (what every store keeps)."""
    if value.__class__ is datetime and value.tzinfo is timezone.utc and not value.microsecond % 1000:
        return value  # canonical already: every field of every copy of a task
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"expected a timezone-aware datetime, got {value!r}")
    value = value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _optional_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def _task_id(instance: Task, attribute: Any, value: object) -> None:
    check_task_id(value)


@frozen
class Task:
    """One task as stored: its params, where it is in its lifecycle, and its outcome.

    ``attempt`` grows with each (re)submission and fences late results;
    ``version`` grows with each change and is what compare-and-set compares;
    ``heartbeat_time`` is the last sign of life of the process that owns a
    running attempt (heartbeats do not change ``version``). ``retries_left``
    is how many automatic retries a failure may still start (``None``: the
    service retries nothing); ``retry_time`` is when a retry attempt is due
    to start, set while it waits for its backoff.
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
    retries_left: int | None = None
    retry_time: datetime | None = field(default=None, converter=_optional_utc)

    @classmethod
    def submitted(cls, task_id: str, params: Mapping, now: datetime, retries: int | None = None) -> Task:
        """A new task, running from this submission on; ``retries``: automatic retries it may take."""
        return cls(task_id, RUNNING, params, now, now, now, heartbeat_time=now, retries_left=retries)

    def resubmitted(self, now: datetime, params: Mapping | None = None, retries: int | None = None) -> Task:
        """A new attempt of this task: running again, with no trace of the last outcome.

        A submission starts a fresh budget of ``retries``.
        """
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
            retries_left=retries,
            retry_time=None,
            extra=self._extra_of_new_attempt(),
        )

    def retried(self, now: datetime, at: datetime, progress: dict | None = None) -> Task:
        """The running attempt failed and a retry takes its place, due to start ``at`` (after its backoff).

        A new attempt with a clean result and error and one retry fewer; it is
        running and not started, and its timeout counts from ``at``.
        ``progress``: the failed attempt's last progress, if not recorded yet:
        the new attempt starts without it, as without one recorded.
        """
        if not self.retries_left:
            raise IllegalTransitionError(f"task {self.task_id!r} has no retries left")
        return self._change(
            "retry",
            now,
            attempt=self.attempt + 1,
            submit_time=at,
            retry_time=at,
            retries_left=self.retries_left - 1,
            result=None,
            error=None,
            start_time=None,
            end_time=None,
            heartbeat_time=now,
            extra=self._extra_of_new_attempt(progress is not None),
        )

    def reclaimed(self, now: datetime) -> Task:
        """A retry that waits for its backoff, taken over from a process that is gone: same schedule.

        A new attempt number fences the old owner; ``retry_time`` and ``retries_left`` stay.
        """
        return self._change("reclaim", now, attempt=self.attempt + 1, heartbeat_time=now)

    def dispatched(self, now: datetime) -> Task:
        """The waiting retry is handed to the executor: it waits no more (``retry_time`` is cleared)."""
        return self._change("dispatch", now, retry_time=None, heartbeat_time=now)

    @property
    def awaiting_retry(self) -> bool:
        """A retry attempt waiting for ``retry_time`` (or for its owner to hand it to the executor)."""
        return self.status is RUNNING and self.retry_time is not None

    def started(self, now: datetime, at: datetime | None = None) -> Task:
        """The attempt has begun executing, at ``at`` (default: ``now``); a sign of life of its owner too."""
        return self._change("start", now, start_time=now if at is None else at, heartbeat_time=now)

    def succeeded(
        self, result: Any, now: datetime, started_at: datetime | None = None, progress: dict | None = None
    ) -> Task:
        """The attempt returned ``result``; ``started_at``: its start, if not recorded yet.

        ``progress``: the attempt's last progress, if not recorded yet: written with the outcome.
        """
        start, extra = self._unrecorded_start(started_at), self._extra_with(progress)
        return self._change("succeed", now, status=SUCCESS, result=result, end_time=now, **start, **extra)

    def failed(
        self, error: str, now: datetime, started_at: datetime | None = None, progress: dict | None = None
    ) -> Task:
        """The attempt ended with ``error`` (traceback); ``started_at``: its start, if not recorded yet.

        ``progress``: the attempt's last progress, if not recorded yet: written with the outcome.
        """
        start, extra = self._unrecorded_start(started_at), self._extra_with(progress)
        return self._change("fail", now, status=FAILED, error=error, end_time=now, **start, **extra)

    @property
    def last_sign_of_life(self) -> datetime:
        """When the owner of this attempt was last known alive: its last heartbeat, or its submission."""
        return self.heartbeat_time or self.submit_time

    def updated(self, data: Mapping[str, Any], now: datetime, started_at: datetime | None = None) -> Task:
        """Apply a user's ``update_task`` data: ``status``/``params``/``result``/``error`` and extra fields.

        ``started_at``: the start of the attempt, if not recorded yet.
        """
        changes, extra = _update_fields(data)
        if "status" in changes and changes["status"].finished and self.end_time is None:
            changes["end_time"] = now
        changes.update(self._unrecorded_start(started_at))
        return self._change("update", now, extra={**self.extra, **extra}, **changes)

    @classmethod
    def created_by_update(cls, task_id: str, data: Mapping[str, Any], now: datetime) -> Task:
        """The task ``update_task`` creates under an id not stored yet, as the original library's upsert did.

        It is ``running`` unless ``data`` says otherwise, at attempt 0: never
        submitted, so the first submission of its id runs it, and nothing takes
        it for timed out or orphaned. One created ``failed`` with ``params`` is
        rerun by submitting its id.
        """
        changes, extra = _update_fields(data)
        status = changes.pop("status", RUNNING)
        params = changes.pop("params", {})
        end_time = now if status.finished else None
        return cls(
            task_id, status, params, now, now, now, attempt=0, end_time=end_time, extra=extra, **changes
        )

    @property
    def never_submitted(self) -> bool:
        """Created by ``update_task``, not by a submission: no attempt of it ever ran."""
        return self.attempt == 0

    def heartbeat(self, now: datetime) -> Task:
        """A sign of life of the owner of the running attempt: not a change, so ``version`` stays."""
        return evolve(self, heartbeat_time=now)

    def _extra_of_new_attempt(self, progress_unrecorded: bool = False) -> dict:
        # Cleared, not dropped: a store that keeps fields it is not given (MongoDB's $set) must see it.
        if progress_unrecorded or PROGRESS_FIELD in self.extra:
            return {**self.extra, PROGRESS_FIELD: None}
        return self.extra

    def _extra_with(self, progress: dict | None) -> dict:
        """The ``extra`` change that records ``progress`` (none for ``None``)."""
        return {} if progress is None else {"extra": {**self.extra, PROGRESS_FIELD: progress}}

    def _unrecorded_start(self, started_at: datetime | None) -> dict:
        return {"start_time": started_at} if started_at is not None and self.start_time is None else {}

    def _change(self, verb: str, now: datetime, **changes: Any) -> Task:
        allowed = TRANSITIONS[verb].get(self.status, frozenset())
        target = changes.get("status", self.status)
        if not allowed:
            raise IllegalTransitionError(f"cannot {verb} task {self.task_id!r}: it is {self.status.value}")
        if target not in allowed:
            raise IllegalTransitionError(
                f"cannot {verb} task {self.task_id!r} from {self.status.value} to {target.value}; "
                "submit it again to rerun it"
            )
        return evolve(self, version=self.version + 1, update_time=now, **changes)


def _update_fields(data: Mapping[str, Any]) -> tuple[dict, dict]:
    """``update_task`` data split into the task's own fields and extra fields; managed ones refused."""
    managed = sorted(MANAGED_FIELDS.intersection(data))
    if managed:
        raise IllegalTransitionError(f"fields managed by AsyncTask cannot be updated: {managed}")
    changes = {key: data[key] for key in _UPDATABLE if key in data}
    if "status" in changes:
        changes["status"] = TaskStatus(changes["status"])
    if "params" in changes and not isinstance(changes["params"], Mapping):
        raise TypeError(f"params must be a mapping, got {type(changes['params']).__name__}")
    return changes, {key: value for key, value in data.items() if key not in changes}
