from __future__ import annotations

import mongomock
import pytest

from asynctask import InMemoryTaskRepository
from asynctask.adapters.mongo import MongoTaskRepository
from asynctask.adapters.sqlite import SqliteTaskRepository
from tests.service.apps import Counter

STORES = {
    "memory": lambda tmp_path: InMemoryTaskRepository(),
    "sqlite": lambda tmp_path: SqliteTaskRepository(tmp_path / "tasks.db"),
    "mongomock": lambda tmp_path: MongoTaskRepository(mongomock.MongoClient().db.tasks),
}
#: mongomock checks a filter, then writes, with no lock between: racing threads can both win.
ATOMIC_STORES = ["memory", "sqlite"]


@pytest.fixture(params=sorted(STORES))
def repository(request, tmp_path):
    repository = STORES[request.param](tmp_path)
    yield repository
    repository.close()


@pytest.fixture(params=ATOMIC_STORES)
def contended_repository(request, tmp_path):
    """A store whose writes are atomic across threads (mongomock's are not)."""
    repository = STORES[request.param](tmp_path)
    yield repository
    repository.close()


@pytest.fixture
def make_service(tmp_path, clock, executor, repository):
    services = []

    def make(cls=Counter, **kwargs):
        kwargs.setdefault("repository", repository)
        kwargs.setdefault("executor", executor)
        kwargs.setdefault("clock", clock)
        service = cls(logger_dir=str(tmp_path / "logs"), **kwargs)
        services.append(service)
        return service

    yield make
    for service in services:
        service.shutdown()


@pytest.fixture
def service(make_service):
    return make_service()
