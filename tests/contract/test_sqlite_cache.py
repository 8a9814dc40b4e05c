"""SQLite's read cache: a repeated read costs no query, and any commit, from anywhere, is seen at once."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
import time
from datetime import timedelta

import pytest

from asynctask.adapters import sqlite as sqlite_adapter
from asynctask.adapters.sqlite import SqliteTaskRepository
from tests.contract.conftest import T0, make_task


@pytest.fixture
def store(tmp_path):
    repository = SqliteTaskRepository(tmp_path / "tasks.db")
    repository.insert(make_task())
    yield repository
    repository.close()


def queries(repository: SqliteTaskRepository) -> list[str]:
    """The SQL this thread's connection of ``repository`` runs from now on."""
    seen: list[str] = []
    repository._connection().set_trace_callback(seen.append)
    return seen


def test_a_second_read_of_an_unchanged_store_runs_no_query(store):
    first = store.get("task-1")
    seen = queries(store)
    assert store.get("task-1") == first
    assert seen == []


def test_each_read_from_the_cache_is_a_copy_of_its_own(store):
    store.get("task-1")
    hit = store.get("task-1")
    hit.params["options"]["tags"].append("changed by a caller")
    hit.result["values"] = "changed too"
    again = store.get("task-1")
    assert again.params == make_task().params and again.result == make_task().result


def test_a_write_through_another_connection_is_seen_at_once(store, tmp_path):
    store.get("task-1")
    outsider = sqlite3.connect(tmp_path / "tasks.db", isolation_level=None)  # the CLI, a script ...
    outsider.execute(
        "UPDATE tasks SET error = 'set elsewhere', version = version + 1 WHERE task_id = 'task-1'"
    )
    outsider.close()
    seen = queries(store)
    assert store.get("task-1").error == "set elsewhere"
    assert seen, "the read must have gone to the database"


def test_a_write_of_another_repository_on_the_file_is_seen_at_once(store, tmp_path):
    other = SqliteTaskRepository(tmp_path / "tasks.db")
    stored = store.get("task-1")
    rerun = stored.resubmitted(T0 + timedelta(hours=1), None)
    assert other.replace(rerun, stored.version)
    assert store.get("task-1").attempt == stored.attempt + 1
    other.close()


def _resubmit_in_another_process(path: str) -> None:
    repository = SqliteTaskRepository(path)
    stored = repository.get("task-1")
    assert repository.replace(stored.resubmitted(T0 + timedelta(hours=1), None), stored.version)
    repository.close()


def test_a_write_of_another_process_is_seen_at_once(store, tmp_path):
    before = store.get("task-1")
    store.get("task-1")  # cached now
    process = multiprocessing.get_context("spawn").Process(
        target=_resubmit_in_another_process, args=(str(tmp_path / "tasks.db"),)
    )
    process.start()
    process.join(timeout=60)
    assert process.exitcode == 0
    after = store.get("task-1")
    assert (after.status.value, after.attempt) == ("running", before.attempt + 1)


def test_without_a_wal_index_to_read_every_read_queries(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_adapter, "_map_wal_index", lambda path: (None, None))
    repository = SqliteTaskRepository(tmp_path / "tasks.db")
    repository.insert(make_task())
    repository.get("task-1")
    seen = queries(repository)
    assert repository.get("task-1") == make_task()
    assert len(seen) == 1
    repository.close()


def test_the_cache_holds_at_most_cache_size_tasks(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_adapter, "CACHE_SIZE", 3)
    repository = SqliteTaskRepository(tmp_path / "tasks.db")
    for index in range(6):
        repository.insert(make_task(task_id=f"task-{index}"))
    for index in range(6):
        assert repository.get(f"task-{index}").task_id == f"task-{index}"
    assert len(repository._cache[1]) == 3
    seen = queries(repository)
    assert repository.get("task-5").task_id == "task-5"  # not cached: read from the file
    assert len(seen) == 1
    repository.close()


def test_a_closed_repository_forgets_its_cache_and_reads_again(store):
    store.get("task-1")
    store.close()
    assert store._cache[1] == {}
    assert store.get("task-1") == make_task()


def test_a_store_reset_under_a_running_repository_is_not_hidden_by_the_cache(store, tmp_path):
    assert store.get("task-1").params == make_task().params  # cached, from the first file
    for suffix in ("", "-wal", "-shm"):
        os.remove(tmp_path / f"tasks.db{suffix}")
    fresh = SqliteTaskRepository(tmp_path / "tasks.db")  # the same path, a new file
    fresh.insert(make_task(params={"n": 2}))
    fresh.close()
    seen = []
    reader = threading.Thread(target=lambda: seen.append(store.get("task-1")))  # opens a new connection
    reader.start()
    reader.join(10)
    assert seen[0].params == {"n": 2}


def test_a_relative_path_keeps_naming_the_same_file_after_a_change_of_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    repository = SqliteTaskRepository("tasks.db")
    repository.insert(make_task())
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    seen = []
    reader = threading.Thread(target=lambda: seen.append(repository.get("task-1")))
    reader.start()
    reader.join(10)
    assert seen[0] == make_task()
    assert not (tmp_path / "elsewhere" / "tasks.db").exists()
    repository.close()


def test_under_concurrent_writes_no_read_goes_back_in_time(tmp_path):
    path = tmp_path / "tasks.db"
    writer_store, reader_store = (
        SqliteTaskRepository(path),
        SqliteTaskRepository(path),
    )  # two processes, as it were
    writer_store.insert(make_task(task_id="c", status="running", extra={"count": 0}))
    confirmed, problems = [0], []
    deadline = time.monotonic() + 0.5

    def write() -> None:
        while time.monotonic() < deadline:
            stored = writer_store.get("c")
            count = stored.extra["count"] + 1
            if writer_store.replace(
                stored.updated({"count": count}, T0 + timedelta(seconds=count)), stored.version
            ):
                confirmed[0] = stored.version + 1

    def read(store: SqliteTaskRepository) -> None:
        last = 0
        while time.monotonic() < deadline:
            floor = confirmed[0]  # written before this read began: it must be seen
            version = store.get("c").version
            if version < max(floor, last):
                problems.append((version, floor, last))
            last = version

    threads = [threading.Thread(target=write)]
    threads += [
        threading.Thread(target=read, args=(store,)) for store in (reader_store, reader_store, writer_store)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert confirmed[0] > 10 and problems == []
    writer_store.close()
    reader_store.close()
