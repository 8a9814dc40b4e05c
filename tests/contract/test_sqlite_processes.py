"""SQLite across processes: one file shared by several processes keeps the contract."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta

from asynctask.adapters.sqlite import SqliteTaskRepository
from tests.contract.conftest import T0, make_task

PROCESSES = 4
INCREMENTS = 25


def _insert(path: str, writer: int, barrier, results) -> None:
    repository = SqliteTaskRepository(path)
    barrier.wait()
    results.put((writer, repository.insert(make_task(task_id="shared", extra={"writer": writer}))))


def _increment(path: str, writer: int, barrier, results) -> None:
    repository = SqliteTaskRepository(path)
    barrier.wait()
    for _ in range(INCREMENTS):
        while True:
            stored = repository.get("counter")
            count = stored.extra["count"] + 1
            if repository.replace(
                stored.updated({"count": count}, T0 + timedelta(seconds=count)), stored.version
            ):
                break
    results.put((writer, True))


def _in_processes(target, path: str) -> dict:
    """``target(path, writer, barrier, results)`` in PROCESSES spawned processes; their results by writer."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES, timeout=60), context.Queue()
    processes = [context.Process(target=target, args=(path, i, barrier, results)) for i in range(PROCESSES)]
    for process in processes:
        process.start()
    outcomes = dict(results.get(timeout=60) for _ in processes)
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return outcomes


def test_of_processes_inserting_one_id_into_one_file_exactly_one_wins(tmp_path):
    path = str(tmp_path / "tasks.db")
    SqliteTaskRepository(path)
    outcomes = _in_processes(_insert, path)
    winners = [writer for writer, won in outcomes.items() if won]
    assert len(outcomes) == PROCESSES and len(winners) == 1
    assert SqliteTaskRepository(path).get("shared").extra == {"writer": winners[0]}


def test_compare_and_set_loses_no_update_across_processes(tmp_path):
    path = str(tmp_path / "tasks.db")
    SqliteTaskRepository(path).insert(make_task(task_id="counter", status="running", extra={"count": 0}))
    assert len(_in_processes(_increment, path)) == PROCESSES
    stored = SqliteTaskRepository(path).get("counter")
    assert stored.extra["count"] == PROCESSES * INCREMENTS
    assert stored.version == make_task().version + PROCESSES * INCREMENTS


def _insert_in_child(repository, results) -> None:
    results.put(repository.insert(make_task(task_id="from-child")))


def test_a_forked_child_opens_its_own_connection(tmp_path):
    repository = SqliteTaskRepository(tmp_path / "tasks.db")
    repository.insert(make_task(task_id="from-parent"))  # the parent has a connection open
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_insert_in_child, args=(repository, results))
    child.start()
    assert results.get(timeout=30) is True
    child.join(timeout=30)
    assert child.exitcode == 0
    assert repository.get("from-child") is not None and repository.get("from-parent") is not None
