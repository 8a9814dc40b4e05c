import pytest

from asynctask import InMemoryTaskRepository
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
