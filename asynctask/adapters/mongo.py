"""The MongoDB store, over a pymongo ``Collection``.

Documents keep the original field names (``task_id``, ``status``, ``result``,
``error``, ``update_time`` ...), so collections written by the original
library stay readable; fields AsyncTask does not own are kept as ``extra``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

import bson
from bson.codec_options import CodecOptions
from bson.errors import InvalidDocument
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from asynctask.adapters._errors import store_errors
from asynctask.core import Page, Position, Task, TaskRepository, TaskStatus, UnencodableValueError

_CORE_FIELDS = (
    "task_id status params create_time update_time submit_time attempt version "
    "result error start_time end_time heartbeat_time retries_left retry_time"
).split()

#: The field MongoDB's TTL index expires finished tasks by, when the service keeps them for a while.
EXPIRE_FIELD = "expire_time"
#: How much later than the service MongoDB expires a task: the service, which removes its log
#: file too, gets there first; the TTL index is the backstop for when no service runs.
TTL_GRACE = timedelta(hours=1)
_FINISHED = [TaskStatus.SUCCESS.value, TaskStatus.FAILED.value]

#: Fields of a document that are MongoDB's or the store's, never the task's.
_NOT_EXTRA = frozenset({"_id", EXPIRE_FIELD})

# What a document without times reads as: long finished.
_LONG_AGO = datetime(1970, 1, 1, tzinfo=timezone.utc)


#: What an unreachable server, a failover or a network timeout raises.
_unavailable = store_errors(ConnectionFailure)


class MongoTaskRepository(TaskRepository):
    """Tasks as documents; a unique index on ``task_id``, compare-and-set on ``version``."""

    @_unavailable
    def __init__(self, collection: Any, *, ensure_index: bool = True, owns_client: bool = False) -> None:
        self.collection = collection
        self._owns_client = owns_client  # opened from a store URL: close() closes it
        options = getattr(collection, "codec_options", None)
        self._codec_options = options if isinstance(options, CodecOptions) else CodecOptions()
        self._ensure_index = ensure_index
        self._expire_after: timedelta | None = None
        if ensure_index:
            collection.create_index("task_id", unique=True)
            # What resume looks for: running tasks by heartbeat.
            collection.create_index([("status", 1), ("heartbeat_time", 1)])
            # Listings, newest first, of one status or of all; retention by end time.
            collection.create_index([("status", 1), ("create_time", -1), ("task_id", -1)])
            collection.create_index([("create_time", -1), ("task_id", -1)])
            collection.create_index([("status", 1), ("end_time", 1)])

    def __repr__(self) -> str:
        return f"MongoTaskRepository({self.collection.full_name!r})"

    def close(self) -> None:
        """Close the client if this repository opened it from a store URL; a caller's client stays open."""
        if self._owns_client:
            self.collection.database.client.close()

    @_unavailable
    def get(self, task_id: str) -> Task | None:
        """The stored task, or ``None``."""
        document = self.collection.find_one({"task_id": task_id}, {"_id": 0})
        return None if document is None else _from_document(document)

    @_unavailable
    def expire_finished(self, after: timedelta) -> None:
        """Let MongoDB delete finished tasks by itself, ``TTL_GRACE`` after the service would.

        Each finished task written from now on carries ``expire_time`` (its
        ``end_time`` + ``after`` + ``TTL_GRACE``) under a TTL index; a rerun
        clears it.
        """
        self._expire_after = after + TTL_GRACE
        if self._ensure_index:
            self.collection.create_index(EXPIRE_FIELD, expireAfterSeconds=0)

    @_unavailable
    def insert(self, task: Task) -> bool:
        """Store a new task unless its id is taken."""
        document = self._encodable(task)
        if (expire := self._expiry(task)) is not None:
            document[EXPIRE_FIELD] = expire
        try:
            self.collection.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    @_unavailable
    def replace(self, task: Task, expected_version: int) -> bool:
        """Store ``task`` if the stored version is still ``expected_version``."""
        # Documents of the original library have no version: they read as 0.
        version = expected_version if expected_version else {"$in": [0, None]}
        change: dict = {"$set": self._encodable(task)}
        if (expire := self._expiry(task)) is not None:
            change["$set"][EXPIRE_FIELD] = expire
        else:
            change["$unset"] = {EXPIRE_FIELD: ""}  # running again, or no expiry: nothing expires it
        outcome = self.collection.update_one({"task_id": task.task_id, "version": version}, change)
        return outcome.matched_count == 1

    @_unavailable
    def touch(self, attempts: Iterable[tuple[str, int]], now: datetime) -> list[tuple[str, int]]:
        """Heartbeat the running attempts in one write; one read answers those not running."""
        asked = list(dict.fromkeys(attempts))
        if not asked:
            return []
        running = {"status": "running", "$or": [{"task_id": t, "attempt": a} for t, a in asked]}
        outcome = self.collection.update_many(running, {"$set": {"heartbeat_time": now}})
        if outcome.matched_count == len(asked):
            return []
        found = self.collection.find(running, {"_id": 0, "task_id": 1, "attempt": 1})
        alive = {(document["task_id"], document.get("attempt")) for document in found}
        return [pair for pair in asked if pair not in alive]

    @_unavailable
    def stale_running(self, heartbeat_before: datetime, limit: int = 100) -> list[Task]:
        """Running tasks whose last heartbeat is older than ``heartbeat_before``."""
        # ``Task.last_sign_of_life``, through the fallbacks ``_from_document`` reads times with.
        before, none = {"$lt": heartbeat_before}, None
        stale = [
            {"heartbeat_time": before},
            {"heartbeat_time": none, "submit_time": before},
            {"heartbeat_time": none, "submit_time": none, "create_time": before},
            {"heartbeat_time": none, "submit_time": none, "create_time": none, "update_time": before},
            {"heartbeat_time": none, "submit_time": none, "create_time": none, "update_time": none},
        ]
        running = {"status": "running", "attempt": {"$ne": 0}, "$or": stale}  # attempt 0: never submitted
        documents = self.collection.find(running, {"_id": 0}).limit(limit)
        return [_from_document(document) for document in documents]

    @_unavailable
    def list(
        self,
        status: TaskStatus | None = None,
        *,
        limit: int,
        after: Position | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Page:
        """One page, newest first, from the index on ``(status, create_time, task_id)``.

        Documents without ``create_time`` (the original library's) come last,
        and never match ``since`` or ``until``.
        """
        conditions: list[dict] = []
        if status is not None:
            conditions.append({"status": TaskStatus(status).value})
        created = {"$gte": since} if since is not None else {}
        if until is not None:
            created["$lt"] = until
        if created:
            conditions.append({"create_time": created})
        if after is not None and after.create_time is None:
            conditions.append({"create_time": None, "task_id": {"$lt": after.task_id}})
        elif after is not None:
            time, task_id = after.create_time, after.task_id
            below = [{"create_time": {"$lt": time}}, {"create_time": time, "task_id": {"$lt": task_id}}]
            conditions.append({"$or": [*below, {"create_time": None}]})
        query = {"$and": conditions} if len(conditions) > 1 else (conditions[0] if conditions else {})
        order = [("create_time", -1), ("task_id", -1)]
        documents = list(self.collection.find(query, {"_id": 0}).sort(order).limit(limit + 1))
        tasks = [_from_document(document) for document in documents[:limit]]
        if len(documents) <= limit:
            return Page(tasks, None)
        last = documents[limit - 1]
        return Page(tasks, Position(_aware(last.get("create_time")), last["task_id"]))

    @_unavailable
    def delete(self, task_ids: Iterable[str], *, ended_before: datetime | None = None) -> int:
        """Delete the tasks with these ids in one write (with ``ended_before``: only if still so)."""
        query: dict = {"task_id": {"$in": list(dict.fromkeys(task_ids))}}
        if not query["task_id"]["$in"]:
            return 0
        if ended_before is not None:
            query.update(status={"$in": _FINISHED}, end_time={"$lt": ended_before})
        return self.collection.delete_many(query).deleted_count

    @_unavailable
    def finished_before(
        self, time: datetime, status: TaskStatus | None = None, limit: int = 100
    ) -> list[str]:
        """Ids of finished tasks that ended before ``time``, from the index on ``(status, end_time)``."""
        documents = self.collection.find(_finished(time, status), {"_id": 0, "task_id": 1}).limit(limit)
        return [document["task_id"] for document in documents]

    @_unavailable
    def count_finished_before(self, time: datetime, status: TaskStatus | None = None) -> int:
        """How many finished tasks ended before ``time``."""
        return self.collection.count_documents(_finished(time, status))

    @_unavailable
    def counts(self) -> dict[TaskStatus, int]:
        """Tasks per status: one count on the index on ``status`` for each."""
        return {status: self.collection.count_documents({"status": status.value}) for status in TaskStatus}

    def _expiry(self, task: Task) -> datetime | None:
        if self._expire_after is None or not task.status.finished or task.end_time is None:
            return None
        return task.end_time + self._expire_after

    def _encodable(self, task: Task) -> dict:
        # Encode before writing, so every driver (mongomock too) refuses the same values.
        if "_id" in task.extra:
            raise UnencodableValueError("the extra field '_id' is MongoDB's own document id")
        if EXPIRE_FIELD in task.extra:
            raise UnencodableValueError(f"the extra field {EXPIRE_FIELD!r} is the store's own expiry")
        document = _to_document(task)
        try:
            bson.encode(document, codec_options=self._codec_options)
        except (InvalidDocument, OverflowError) as exc:
            raise _unencodable(task, self._codec_options) from exc
        return document


def _finished(time: datetime, status: TaskStatus | None) -> dict:
    statuses = _FINISHED if status is None else [TaskStatus(status).value]
    statuses = [value for value in statuses if value in _FINISHED]  # never a running task
    return {"status": {"$in": statuses}, "end_time": {"$lt": time}}


def _unencodable(task: Task, options: CodecOptions) -> UnencodableValueError:
    for what, value in (("result", task.result), ("params", task.params), ("extra fields", task.extra)):
        try:
            bson.encode({"value": value}, codec_options=options)
        except (InvalidDocument, OverflowError) as exc:
            return UnencodableValueError(
                f"{what} of type {type(value).__name__} cannot be stored in MongoDB: {exc}"
            )
    return UnencodableValueError(f"task {task.task_id!r} cannot be stored in MongoDB")


def _to_document(task: Task) -> dict:
    document = dict(task.extra)
    document.update((name, getattr(task, name)) for name in _CORE_FIELDS)
    document["status"] = task.status.value
    return document


def _aware(value: datetime | None) -> datetime | None:
    # pymongo gives naive UTC datetimes unless the client is tz_aware.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _from_document(document: dict) -> Task:
    update_time = _aware(document.get("update_time")) or _LONG_AGO
    create_time = _aware(document.get("create_time")) or update_time
    extra = {k: v for k, v in document.items() if k not in _CORE_FIELDS and k not in _NOT_EXTRA}
    error = document.get("error")
    return Task(
        task_id=document["task_id"],
        status=document.get("status") or "running",
        params=document.get("params") or {},
        create_time=create_time,
        update_time=update_time,
        submit_time=_aware(document.get("submit_time")) or create_time,
        attempt=1 if document.get("attempt") is None else document["attempt"],  # the original kept none
        version=document.get("version") or 0,
        result=document.get("result"),
        error=None if error in (None, "") else str(error),
        start_time=_aware(document.get("start_time")),
        end_time=_aware(document.get("end_time")),
        heartbeat_time=_aware(document.get("heartbeat_time")),
        extra=extra,
        retries_left=document.get("retries_left"),
        retry_time=_aware(document.get("retry_time")),
    )
