import pytest

from asynctask import InMemoryTaskRepository
from tests.http.apps import Typed
from tests.service.apps import Counter


@pytest.fixture
def service(tmp_path, executor, clock):
    service = Counter(
        logger_dir=str(tmp_path), repository=InMemoryTaskRepository(), executor=executor, clock=clock
    )
    yield service
    service.shutdown()


@pytest.fixture
def client(service):
    return service.app("/api").test_client()


@pytest.fixture
def typed(tmp_path, executor, clock):
    service = Typed(
        logger_dir=str(tmp_path), repository=InMemoryTaskRepository(), executor=executor, clock=clock
    )
    yield service
    service.shutdown()


@pytest.fixture
def typed_client(typed):
    return typed.app("/api").test_client()
