from __future__ import annotations

import mongomock
import pytest

from asynctask import InMemoryTaskRepository
from asynctask.adapters.mongo import MongoTaskRepository
from tests.service.apps import Counter

STORES = {
    "memory": InMemoryTaskRepository,
    "mongomock": lambda: MongoTaskRepository(mongomock.MongoClient().db.tasks),
}


@pytest.fixture(params=sorted(STORES))
def repository(request):
    return STORES[request.param]()


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
