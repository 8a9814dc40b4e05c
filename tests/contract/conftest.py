"""Every TaskRepository the contract runs against, and a task builder.

A new store joins the contract with a factory below and one line in ``STORES``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest

from asynctask.adapters import InMemoryTaskRepository, MongoTaskRepository
from asynctask.core import Task, TaskRepository, TaskStatus

LIVE_MONGO_URI = "ASYNCTASK_TEST_MONGO_URI"

# Not a round second, so a store that drops milliseconds shows.
T0 = datetime(2026, 3, 14, 15, 9, 26, 535000, tzinfo=timezone.utc)

StoreFactory = Callable[[pytest.FixtureRequest], AbstractContextManager[TaskRepository]]


@contextmanager
def open_memory(request: pytest.FixtureRequest) -> Iterator[TaskRepository]:
    """A fresh in-memory store."""
    yield InMemoryTaskRepository()


@contextmanager
def open_mongomock(request: pytest.FixtureRequest, tz_aware: bool = False) -> Iterator[TaskRepository]:
    """A Mongo store over a fresh mongomock collection."""
    mongomock = pytest.importorskip("mongomock")
    client = mongomock.MongoClient(tz_aware=tz_aware)
    yield MongoTaskRepository(client.db[f"tasks_{uuid.uuid4().hex}"])


@contextmanager
def open_sqlite(request: pytest.FixtureRequest) -> Iterator[TaskRepository]:
    """A SQLite store in a fresh file."""
    from asynctask.adapters.sqlite import SqliteTaskRepository

    yield SqliteTaskRepository(request.getfixturevalue("tmp_path") / "tasks.db")


@contextmanager
def open_live_mongo(request: pytest.FixtureRequest) -> Iterator[TaskRepository]:
    """A Mongo store over a fresh collection of a real server, dropped afterwards."""
    collection = request.getfixturevalue("live_mongo_database")[f"tasks_{uuid.uuid4().hex}"]
    try:
        yield MongoTaskRepository(collection)
    finally:
        collection.drop()


#: Every store the contract runs against, by test id.
STORES: dict[str, StoreFactory] = {
    "memory": open_memory,
    "sqlite": open_sqlite,
    "mongomock": open_mongomock,
    "mongomock-tz-aware": partial(open_mongomock, tz_aware=True),
    "mongo-live": open_live_mongo,
}

# mongomock checks a filter and then writes, with no lock around the two, so
# racing threads can both win: a limit of the fake, not of the adapter. The
# concurrency tests run on the other stores (mongo-live covers the adapter).
NOT_ATOMIC_ACROSS_THREADS = {"mongomock", "mongomock-tz-aware"}

MARKS = {"mongo-live": pytest.mark.live_mongo}


def _params(names: list[str]) -> list:
    return [pytest.param(name, marks=MARKS.get(name, ())) for name in names]


@contextmanager
def _open(request: pytest.FixtureRequest) -> Iterator[TaskRepository]:
    with STORES[request.param](request) as repository:
        try:
            yield repository
        finally:
            repository.close()


@pytest.fixture(params=_params(list(STORES)))
def repository(request: pytest.FixtureRequest) -> Iterator[TaskRepository]:
    """An empty store of each kind in turn."""
    with _open(request) as store:
        yield store


@pytest.fixture(params=_params([name for name in STORES if name not in NOT_ATOMIC_ACROSS_THREADS]))
def contended_repository(request: pytest.FixtureRequest) -> Iterator[TaskRepository]:
    """An empty store of each kind whose writes are atomic across threads."""
    with _open(request) as store:
        yield store


@pytest.fixture(scope="session")
def live_mongo_database() -> Iterator[Any]:
    """The database of the server at $ASYNCTASK_TEST_MONGO_URI; a skip when it is unset."""
    uri = os.environ.get(LIVE_MONGO_URI)
    if not uri:
        pytest.skip(f"set {LIVE_MONGO_URI} to run the contract against a live MongoDB")
    import pymongo

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        yield client.get_default_database("asynctask_contract")
    finally:
        client.close()


def make_task(**overrides: Any) -> Task:
    """A finished task with every field set to something distinct; ``overrides`` replace any."""
    fields: dict[str, Any] = {
        "task_id": "task-1",
        "status": TaskStatus.SUCCESS,
        "params": {"n": 3, "name": "sample", "options": {"fast": True, "ratio": 0.25, "tags": []}},
        "create_time": T0,
        "update_time": T0 + timedelta(seconds=4, milliseconds=999),
        "submit_time": T0 + timedelta(milliseconds=1500),
        "start_time": T0 + timedelta(milliseconds=2001),
        "end_time": T0 + timedelta(seconds=4, milliseconds=999),
        "heartbeat_time": T0 + timedelta(seconds=3, milliseconds=250),
        "attempt": 2,
        "version": 5,
        "result": {"total": 42, "items": [1, 2.5, None, "x", False], "empty": {}},
        "error": None,
        "extra": {"owner": "worker-7", "progress": 1.0},
        "retries_left": 1,
        "retry_time": T0 + timedelta(milliseconds=1500),
    }
    fields.update(overrides)
    return Task(**fields)


@pytest.fixture
def now() -> datetime:
    """A moment after every time of ``make_task()``, for the verbs that take one."""
    return T0 + timedelta(minutes=1)


@pytest.fixture(name="make_task")
def make_task_fixture() -> Callable[..., Task]:
    """``make_task`` for the test modules (a conftest is not meant to be imported)."""
    return make_task
