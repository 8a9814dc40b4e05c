import pytest

from asynctask import InMemoryTaskRepository, SqliteTaskRepository
from asynctask.adapters.urls import StoreURLError, mongo_parts, open_repository, sqlite_path
from asynctask.core import StoreUnavailableError


def test_memory_url_opens_a_memory_store():
    assert isinstance(open_repository("memory://"), InMemoryTaskRepository)


def test_sqlite_urls_are_relative_with_three_slashes_and_absolute_with_four(tmp_path, monkeypatch):
    assert sqlite_path("sqlite:///data/tasks.db") == "data/tasks.db"
    assert sqlite_path("sqlite:////var/lib/tasks.db") == "/var/lib/tasks.db"
    monkeypatch.chdir(tmp_path)
    repository = open_repository("sqlite:///sub/tasks.db")
    assert isinstance(repository, SqliteTaskRepository) and (tmp_path / "sub" / "tasks.db").exists()
    repository.close()


def test_mongo_urls_name_the_database_and_the_collection():
    assert mongo_parts("mongodb://u:p@h:27017/db/jobs?authSource=admin") == (
        "mongodb://u:p@h:27017/db?authSource=admin",
        "db",
        "jobs",
    )
    assert mongo_parts("mongodb+srv://cluster.example.com/db/jobs")[1:] == ("db", "jobs")


def test_an_unreachable_mongo_server_is_a_clear_error_without_the_password():
    with pytest.raises(StoreUnavailableError, match=r"cannot use MongoDB at 127\.0\.0\.1:1") as caught:
        open_repository("mongodb://user:secret@127.0.0.1:1/db/jobs?serverSelectionTimeoutMS=100")
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("tasks.db", "not a store URL"),
        ("redis://localhost", "unknown store scheme 'redis'"),
        ("memory://somewhere", "memory:// takes no host or path"),
        ("sqlite://tasks.db", "sqlite:///relative/path.db"),
        ("sqlite:///", "needs a file path"),
        ("sqlite:///tasks.db?mode=ro", "needs a file path"),
        ("mongodb://localhost/db", "ends in /database/collection"),
        ("mongodb://localhost/db/c/extra", "ends in /database/collection"),
        ("mongodb:///db/c", "needs a host"),
    ],
)
def test_malformed_urls_say_what_is_wrong(url, message):
    with pytest.raises(StoreURLError, match=message):
        open_repository(url)
    assert issubclass(StoreURLError, ValueError)


def test_a_mongo_store_closes_the_client_it_opened_from_a_url_and_only_that_one():
    import mongomock

    from asynctask.adapters.mongo import MongoTaskRepository

    closed = []
    client = mongomock.MongoClient()
    client.close = lambda: closed.append("theirs")
    MongoTaskRepository(client.db.tasks).close()
    assert closed == []
    MongoTaskRepository(client.db.tasks, owns_client=True).close()
    assert closed == ["theirs"]
