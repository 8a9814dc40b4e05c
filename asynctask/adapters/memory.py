"""An in-memory store for tests and trials: thread-safe, nothing persists."""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Iterable
from datetime import datetime

from attrs import evolve

from asynctask.adapters._json import dumps
from asynctask.core import Page, Position, Task, TaskRepository, TaskStatus
from asynctask.core.listing import page_of

#: A stored task and the JSON text of its params, result and extra fields.
_Record = tuple[Task, str, str, str]
#: How a task sorts in a listing (``create_time``, ``task_id``) or in retention (``end_time``, ``task_id``).
_Key = tuple[datetime, str]
_ALL = None  # the listing index of every status


class InMemoryTaskRepository(TaskRepository):
    """Tasks in a dict under a lock; values are kept as JSON, so a get gives a copy, like a real store.

    Listings and retention are served by sorted lists of keys, one per status
    (and one of all tasks for listings): a page costs a binary search and its
    own length. Keeping them costs a ``bisect.insort`` and a removal per status
    change; a removal moves the keys after it, which is cheap for the recent
    tasks that change.
    """

    def __init__(self) -> None:
        self._tasks: dict[str, _Record] = {}
        self._lock = threading.Lock()
        self._created: dict[TaskStatus | None, list[_Key]] = {
            _ALL: [],
            **{status: [] for status in TaskStatus},
        }
        self._ended: dict[TaskStatus, list[_Key]] = {status: [] for status in TaskStatus if status.finished}

    def get(self, task_id: str) -> Task | None:
        """The stored task, or ``None``."""
        record = self._tasks.get(task_id)
        return None if record is None else _thaw(record)

    def insert(self, task: Task) -> bool:
        """Store a new task unless its id is taken."""
        record = _freeze(task)
        with self._lock:
            if task.task_id in self._tasks:
                return False
            self._tasks[task.task_id] = record
            self._index(task)
            return True

    def replace(self, task: Task, expected_version: int) -> bool:
        """Store ``task`` if the stored version is still ``expected_version``."""
        record = _freeze(task)
        with self._lock:
            stored = self._tasks.get(task.task_id)
            if stored is None or stored[0].version != expected_version:
                return False
            self._tasks[task.task_id] = record
            self._reindex(stored[0], task)
            return True

    def touch(self, attempts: Iterable[tuple[str, int]], now: datetime) -> list[tuple[str, int]]:
        """Heartbeat the running attempts, under one lock; answers those not running."""
        gone = []
        with self._lock:
            for task_id, attempt in attempts:
                task, *values = self._tasks.get(task_id, (None,))
                if task is not None and task.attempt == attempt and task.status is TaskStatus.RUNNING:
                    self._tasks[task_id] = (task.heartbeat(now), *values)
                else:
                    gone.append((task_id, attempt))
        return gone

    def stale_running(self, heartbeat_before: datetime, limit: int = 100) -> list[Task]:
        """Running tasks whose last heartbeat is older than ``heartbeat_before``: a scan of the running."""
        with self._lock:
            records = [self._tasks[task_id] for _, task_id in self._created[TaskStatus.RUNNING]]
        stale = [
            record
            for record in records
            if not record[0].never_submitted and record[0].last_sign_of_life < heartbeat_before
        ]
        return [_thaw(record) for record in stale[:limit]]

    def list(
        self,
        status: TaskStatus | None = None,
        *,
        limit: int,
        after: Position | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Page:
        """One page, newest first: a binary search in the index of ``status``."""
        with self._lock:
            keys = self._created[None if status is None else TaskStatus(status)]
            high = len(keys)
            if until is not None:
                high = bisect.bisect_left(keys, (until, ""))
            if after is not None:  # a position without a time (MongoDB's) comes after every task here
                high = (
                    0
                    if after.create_time is None
                    else min(high, bisect.bisect_left(keys, (after.create_time, after.task_id)))
                )
            low = 0 if since is None else bisect.bisect_left(keys, (since, ""))
            chosen = keys[max(low, high - limit - 1) : high] if high > low else []
            records = [self._tasks[task_id] for _, task_id in reversed(chosen)]
        return page_of([_thaw(record) for record in records], limit)

    def delete(self, task_ids: Iterable[str], *, ended_before: datetime | None = None) -> int:
        """Delete the tasks with these ids (with ``ended_before``: only if still finished before it)."""
        deleted = 0
        with self._lock:
            for task_id in dict.fromkeys(task_ids):
                record = self._tasks.get(task_id)
                if record is None or (
                    ended_before is not None and not _ended_before(record[0], ended_before)
                ):
                    continue
                del self._tasks[task_id]
                self._unindex(record[0])
                deleted += 1
        return deleted

    def finished_before(
        self, time: datetime, status: TaskStatus | None = None, limit: int = 100
    ) -> list[str]:
        """Ids of finished tasks that ended before ``time``, oldest first: the head of each end index."""
        with self._lock:
            found: list[_Key] = []
            for keys in self._finished_indexes(status):
                found += keys[: min(bisect.bisect_left(keys, (time, "")), limit)]
        return [task_id for _, task_id in sorted(found)[:limit]]

    def count_finished_before(self, time: datetime, status: TaskStatus | None = None) -> int:
        """How many finished tasks ended before ``time``."""
        with self._lock:
            return sum(bisect.bisect_left(keys, (time, "")) for keys in self._finished_indexes(status))

    def counts(self) -> dict[TaskStatus, int]:
        """Tasks per status: the length of each status's index."""
        with self._lock:
            return {status: len(self._created[status]) for status in TaskStatus}

    def __len__(self) -> int:
        """How many tasks are stored."""
        return len(self._tasks)

    def _finished_indexes(self, status: TaskStatus | None) -> list[list[_Key]]:
        if status is None:
            return list(self._ended.values())
        return [self._ended[TaskStatus(status)]] if TaskStatus(status).finished else []

    def _index(self, task: Task) -> None:
        key = (task.create_time, task.task_id)
        bisect.insort(self._created[_ALL], key)
        bisect.insort(self._created[task.status], key)
        if task.status.finished and task.end_time is not None:
            bisect.insort(self._ended[task.status], (task.end_time, task.task_id))

    def _reindex(self, old: Task, new: Task) -> None:
        """Move the keys of a replaced task that changed, and only those (most writes change none)."""
        if old.create_time != new.create_time:
            self._unindex(old)
            self._index(new)
            return
        if old.status is not new.status:
            key = (new.create_time, new.task_id)
            _remove(self._created[old.status], key)
            bisect.insort(self._created[new.status], key)
        if (old.status, old.end_time) != (new.status, new.end_time):
            if old.status.finished and old.end_time is not None:
                _remove(self._ended[old.status], (old.end_time, old.task_id))
            if new.status.finished and new.end_time is not None:
                bisect.insort(self._ended[new.status], (new.end_time, new.task_id))

    def _unindex(self, task: Task) -> None:
        key = (task.create_time, task.task_id)
        _remove(self._created[_ALL], key)
        _remove(self._created[task.status], key)
        if task.status.finished and task.end_time is not None:
            _remove(self._ended[task.status], (task.end_time, task.task_id))


def _remove(keys: list[_Key], key: _Key) -> None:
    index = bisect.bisect_left(keys, key)
    if index < len(keys) and keys[index] == key:
        del keys[index]


def _ended_before(task: Task, time: datetime) -> bool:
    return task.status.finished and task.end_time is not None and task.end_time < time


def _freeze(task: Task) -> _Record:
    return task, dumps(task.params, "params"), dumps(task.result, "result"), dumps(task.extra, "extra fields")


def _thaw(record: _Record) -> Task:
    task, params, result, extra = record
    return evolve(task, params=json.loads(params), result=json.loads(result), extra=json.loads(extra))
