"""The MongoDB store, over a pymongo ``Collection``.

Documents keep the original field names (``task_id``, ``status``, ``result``,
``error``, ``update_time`` ...), so collections written by the original
library stay readable; fields AsyncTask does not own are kept as ``extra``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import bson
from bson.codec_options import CodecOptions
from bson.errors import InvalidDocument
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from asynctask.adapters._errors import store_errors
from asynctask.core import Task, TaskRepository, UnencodableValueError

_CORE_FIELDS = (
    "task_id status params create_time update_time submit_time attempt version "
    "result error start_time end_time heartbeat_time"
).split()

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
        if ensure_index:
            collection.create_index("task_id", unique=True)
            # What resume looks for: running tasks by heartbeat.
            collection.create_index([("status", 1), ("heartbeat_time", 1)])

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
    def insert(self, task: Task) -> bool:
        """Store a new task unless its id is taken."""
        document = self._encodable(task)
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
        document = self._encodable(task)
        outcome = self.collection.update_one(
            {"task_id": task.task_id, "version": version}, {"$set": document}
        )
        return outcome.matched_count == 1

    @_unavailable
    def touch(self, attempts: Iterable[tuple[str, int]], now: datetime) -> None:
        """Heartbeat the running attempts in one write."""
        which = [{"task_id": task_id, "attempt": attempt} for task_id, attempt in attempts]
        if which:
            self.collection.update_many(
                {"status": "running", "$or": which}, {"$set": {"heartbeat_time": now}}
            )

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

    def _encodable(self, task: Task) -> dict:
        # Encode before writing, so every driver (mongomock too) refuses the same values.
        if "_id" in task.extra:
            raise UnencodableValueError("the extra field '_id' is MongoDB's own document id")
        document = _to_document(task)
        try:
            bson.encode(document, codec_options=self._codec_options)
        except (InvalidDocument, OverflowError) as exc:
            raise _unencodable(task, self._codec_options) from exc
        return document


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
    extra = {k: v for k, v in document.items() if k not in _CORE_FIELDS and k != "_id"}
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
    )
