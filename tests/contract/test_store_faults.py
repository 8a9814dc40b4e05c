"""A store that cannot answer raises StoreUnavailableError, whatever its driver says."""

import sqlite3

import pytest
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from asynctask.adapters.mongo import MongoTaskRepository
from asynctask.adapters.sqlite import SqliteTaskRepository
from asynctask.core import StoreUnavailableError
from tests.contract.conftest import make_task


def test_a_locked_sqlite_database_is_unavailable_not_a_driver_error(tmp_path):
    path = tmp_path / "tasks.db"
    repository = SqliteTaskRepository(path, busy_timeout=0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailableError, match="SqliteTaskRepository.*locked"):
            repository.insert(make_task())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert repository.insert(make_task()) is True


def test_a_sqlite_path_that_cannot_be_created_is_unavailable(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreUnavailableError, match="unavailable"):
        SqliteTaskRepository(tmp_path / "file" / "tasks.db")


class UnreachableCollection:
    """A pymongo collection whose server is gone."""

    full_name = "db.tasks"

    def create_index(self, *args, **kwargs):
        return "ok"

    def find_one(self, *args, **kwargs):
        raise AutoReconnect("connection reset by peer")

    def insert_one(self, *args, **kwargs):
        raise ServerSelectionTimeoutError("no servers found")


def test_an_unreachable_mongodb_is_unavailable_not_a_driver_error():
    repository = MongoTaskRepository(UnreachableCollection())
    with pytest.raises(StoreUnavailableError, match=r"MongoTaskRepository\('db.tasks'\).*AutoReconnect"):
        repository.get("t")
    with pytest.raises(StoreUnavailableError, match="ServerSelectionTimeoutError"):
        repository.insert(make_task())
