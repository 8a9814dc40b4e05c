"""SQLite shared with threads, processes and other tools: bounded connections, no lost locks, no crash."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
import time
from datetime import timedelta

import pytest

from asynctask.adapters.sqlite import MAX_CONNECTIONS, SqliteTaskRepository
from asynctask.core import StoreUnavailableError
from tests.contract.conftest import T0, make_task

WRITERS, OPENERS, TASKS_PER_WRITER = 3, 2, 300


@pytest.fixture
def store(tmp_path):
    repository = SqliteTaskRepository(tmp_path / "tasks.db")
    repository.insert(make_task())
    yield repository
    repository.close()


def open_descriptors(path) -> int:
    """How many descriptors of this process name ``path`` (the database file itself)."""
    target = os.path.realpath(path)
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == target
        except OSError:
            pass
    return count


def test_a_write_through_another_connection_is_seen_at_once(store, tmp_path):
    store.get("task-1")
    outsider = sqlite3.connect(tmp_path / "tasks.db", isolation_level=None)  # the CLI, a script ...
    outsider.execute(
        "UPDATE tasks SET error = 'set elsewhere', version = version + 1 WHERE task_id = 'task-1'"
    )
    outsider.close()
    assert store.get("task-1").error == "set elsewhere"


def test_each_read_is_a_copy_of_its_own(store):
    hit = store.get("task-1")
    hit.params["options"]["tags"].append("changed by a caller")
    hit.result["values"] = "changed too"
    again = store.get("task-1")
    assert again.params == make_task().params and again.result == make_task().result


def _resubmit_in_another_process(path: str) -> None:
    repository = SqliteTaskRepository(path)
    stored = repository.get("task-1")
    assert repository.replace(stored.resubmitted(T0 + timedelta(hours=1), None), stored.version)
    repository.close()


def test_a_write_of_another_process_is_seen_at_once(store, tmp_path):
    before = store.get("task-1")
    process = multiprocessing.get_context("spawn").Process(
        target=_resubmit_in_another_process, args=(str(tmp_path / "tasks.db"),)
    )
    process.start()
    process.join(timeout=60)
    assert process.exitcode == 0
    after = store.get("task-1")
    assert (after.status.value, after.attempt) == ("running", before.attempt + 1)


def test_a_relative_path_keeps_naming_the_same_file_after_a_change_of_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    repository = SqliteTaskRepository("tasks.db", max_connections=1)
    repository.insert(make_task())
    repository.close()  # the next read opens a new connection
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert repository.get("task-1") == make_task()
    assert not (tmp_path / "elsewhere" / "tasks.db").exists()
    repository.close()


def test_threads_that_come_and_go_leave_no_connection_behind(store, tmp_path):
    def read() -> None:
        assert store.get("task-1") is not None

    for _ in range(200):  # a server with a thread per connection
        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
    assert open_descriptors(tmp_path / "tasks.db") <= 1


def test_many_threads_at_once_share_at_most_max_connections(store, tmp_path):
    start, peak, problems = threading.Barrier(40), [0], []

    def read() -> None:
        start.wait()
        for _ in range(20):
            if store.get("task-1") is None:
                problems.append("missing")
            peak[0] = max(peak[0], open_descriptors(tmp_path / "tasks.db"))

    threads = [threading.Thread(target=read) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert problems == []
    assert 1 <= peak[0] <= MAX_CONNECTIONS


def test_a_closed_repository_opens_connections_again_when_used(store, tmp_path):
    store.get("task-1")
    store.close()
    assert open_descriptors(tmp_path / "tasks.db") == 0
    assert store.get("task-1") == make_task()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "4"])
def test_max_connections_must_be_a_positive_int(tmp_path, bad):
    with pytest.raises(ValueError, match="max_connections"):
        SqliteTaskRepository(tmp_path / "tasks.db", max_connections=bad)


@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="needs Linux's /proc/locks")
def test_reads_keep_the_lock_sqlite_holds_on_its_wal_index(store, tmp_path):
    # Closing any descriptor of a file drops every POSIX lock the process holds on it:
    # code that opened -shm itself would silently take SQLite's read lock away.
    for _ in range(3):
        store.get("task-1")
    inode = os.stat(tmp_path / "tasks.db-shm").st_ino
    with open("/proc/locks") as locks:
        ours = [line for line in locks if f" {os.getpid()} " in line and f":{inode} " in line]
    assert ours, "SQLite's lock on the -shm file is gone"


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
    threads += [threading.Thread(target=read, args=(s,)) for s in (reader_store, reader_store, writer_store)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert confirmed[0] > 10 and problems == []
    writer_store.close()
    reader_store.close()


def _write_and_read_back(path: str, writer: int) -> None:
    repository = SqliteTaskRepository(path)
    for index in range(TASKS_PER_WRITER):
        task = make_task(task_id=f"writer-{writer}-{index}", status="running")
        assert repository.insert(task)
        assert repository.get(task.task_id) == task
    repository.close()


def _open_plainly(path: str, stop) -> None:
    # What `asynctask status`, a backup or the sqlite3 shell does: open, read, close, again.
    while not stop.is_set():
        connection = sqlite3.connect(path, timeout=30)
        connection.execute("SELECT count(*) FROM tasks").fetchone()
        connection.close()


def test_writers_survive_other_processes_opening_the_file_and_every_row_is_there(tmp_path):
    path = str(tmp_path / "tasks.db")
    SqliteTaskRepository(path).close()
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    openers = [context.Process(target=_open_plainly, args=(path, stop)) for _ in range(OPENERS)]
    writers = [context.Process(target=_write_and_read_back, args=(path, w)) for w in range(WRITERS)]
    for process in openers + writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
    stop.set()
    for process in openers:
        process.join(timeout=30)
    assert [process.exitcode for process in writers] == [0] * WRITERS  # -7 is SIGBUS
    assert [process.exitcode for process in openers] == [0] * OPENERS
    check = sqlite3.connect(path)
    assert check.execute("SELECT count(*) FROM tasks").fetchone()[0] == WRITERS * TASKS_PER_WRITER
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()


def _write_around_the_parents_close(repository, parent_closed, results) -> None:
    results.put(repository.insert(make_task(task_id="before-close")))
    parent_closed.wait(30)
    results.put(repository.insert(make_task(task_id="after-close")))


def test_a_forked_child_keeps_every_write_when_the_parent_closes_its_store(tmp_path):
    # A connection that crossed the fork would share SQLite's lock bookkeeping with the child's:
    # the parent's close would then delete -wal under the child, and its writes would be lost.
    repository = SqliteTaskRepository(tmp_path / "tasks.db")
    repository.get("warm")  # an idle connection in the parent's pool
    context = multiprocessing.get_context("fork")
    parent_closed, results = context.Event(), context.Queue()
    child = context.Process(target=_write_around_the_parents_close, args=(repository, parent_closed, results))
    child.start()
    assert results.get(timeout=30) is True
    repository.close()
    parent_closed.set()
    assert results.get(timeout=30) is True
    child.join(30)
    fresh = SqliteTaskRepository(tmp_path / "tasks.db")
    assert fresh.get("before-close") is not None and fresh.get("after-close") is not None
    fresh.close()


def _use_after_fork(repository, results) -> None:
    try:
        repository.get("task-1")
    except StoreUnavailableError as exc:
        results.put(str(exc))
    else:
        results.put("used")


def test_a_child_forked_while_a_connection_was_in_use_refuses_the_store(store):
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store._pool.connection():
            entered.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert entered.wait(5)
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_use_after_fork, args=(store, results))
    child.start()
    answer = results.get(timeout=30)
    child.join(30)
    release.set()
    holder.join(10)
    assert "forked while another thread used a connection" in answer
    assert store.get("task-1") is not None  # the parent goes on


def test_a_close_while_connections_are_lent_keeps_the_bound(tmp_path):
    repository = SqliteTaskRepository(tmp_path / "tasks.db", max_connections=1, busy_timeout=0.2)
    with repository._pool.connection():
        repository.close()  # e.g. stop() while a request thread still reads
        with pytest.raises(StoreUnavailableError, match="stayed in use"):
            repository.get("task-1")  # a second connection would break max_connections=1
    assert repository.get("task-1") is None  # given back (and closed): the next one opens
    repository.close()


def test_a_file_written_before_the_retry_columns_is_brought_up_to_date(tmp_path):
    import sqlite3

    from asynctask.adapters.sqlite import SqliteTaskRepository
    from asynctask.core import Task

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE tasks (task_id TEXT PRIMARY KEY, status TEXT NOT NULL, params TEXT NOT NULL, "
        "create_time TEXT NOT NULL, update_time TEXT NOT NULL, submit_time TEXT NOT NULL, "
        "attempt INTEGER NOT NULL, version INTEGER NOT NULL, result TEXT NOT NULL, error TEXT, "
        "start_time TEXT, end_time TEXT, heartbeat_time TEXT, extra TEXT NOT NULL)"
    )
    old.execute(
        "INSERT INTO tasks VALUES ('old', 'success', '{}', '2026-01-01T00:00:00.000+00:00', "
        "'2026-01-01T00:00:01.000+00:00', '2026-01-01T00:00:00.000+00:00', 1, 3, '5', NULL, NULL, "
        "'2026-01-01T00:00:01.000+00:00', NULL, '{}')"
    )
    old.commit()
    old.close()

    repository = SqliteTaskRepository(path)
    again = SqliteTaskRepository(path)  # a second opener finds the columns there
    try:
        task = repository.get("old")
        assert task.result == 5 and task.retries_left is None and task.retry_time is None
        new = Task.submitted("new", {}, task.create_time, retries=2)
        assert again.insert(new)
        assert repository.get("new").retries_left == 2
    finally:
        repository.close()
        again.close()
