import pytest

from asynctask import InMemoryTaskRepository
from tests.http.apps import Typed
from tests.service.apps import Counter


@pytest.fixture
def make(tmp_path, executor, clock):
    """Build a service of ``cls`` on a memory store with the test's executor and clock."""
    services = []

    def build(cls):
        services.append(
            cls(logger_dir=str(tmp_path), repository=InMemoryTaskRepository(), executor=executor, clock=clock)
        )
        return services[-1]

    yield build
    for service in services:
        service.shutdown()


@pytest.fixture
def service(make):
    return make(Counter)


@pytest.fixture
def client(service):
    return service.app("/api").test_client()


@pytest.fixture
def typed(make):
    return make(Typed)


@pytest.fixture
def typed_client(typed):
    return typed.app("/api").test_client()
