"""Racing threads: exactly one insert and one compare-and-set wins, and no update is lost."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from asynctask.core import Task

R = TypeVar("R")

THREADS = 16


def run_in_threads(count: int, action: Callable[[int, threading.Barrier], R]) -> list[R]:
    """``action(index, barrier)`` in ``count`` threads; each waits on ``barrier`` to race the others."""
    barrier = threading.Barrier(count, timeout=30)
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(action, index, barrier) for index in range(count)]
        return [future.result(timeout=60) for future in futures]


def test_of_many_threads_inserting_one_id_exactly_one_wins(contended_repository, make_task):
    def insert(index: int, barrier: threading.Barrier) -> bool:
        task = make_task(extra={"writer": index})
        barrier.wait()
        return contended_repository.insert(task)

    outcomes = run_in_threads(THREADS, insert)

    assert outcomes.count(True) == 1
    assert contended_repository.get("task-1").extra == {"writer": outcomes.index(True)}


def test_of_many_threads_replacing_the_version_they_read_exactly_one_wins(
    contended_repository, make_task, now
):
    stored = make_task()
    contended_repository.insert(stored)

    def replace(index: int, barrier: threading.Barrier) -> bool:
        seen = contended_repository.get(stored.task_id)
        barrier.wait()
        return contended_repository.replace(seen.updated({"writer": index}, now), seen.version)

    outcomes = run_in_threads(THREADS, replace)

    assert outcomes.count(True) == 1
    got = contended_repository.get(stored.task_id)
    assert (got.version, got.extra["writer"]) == (stored.version + 1, outcomes.index(True))


def test_read_modify_write_with_retry_loses_no_increment(contended_repository, make_task, now):
    threads, increments = 8, 25
    stored = make_task(extra={"counter": 0})
    contended_repository.insert(stored)

    def increment(task: Task) -> bool:
        return contended_repository.replace(
            task.updated({"counter": task.extra["counter"] + 1}, now), expected_version=task.version
        )

    def count(index: int, barrier: threading.Barrier) -> None:
        barrier.wait()
        for _ in range(increments):
            while not increment(contended_repository.get(stored.task_id)):
                pass  # lost a race: read again

    run_in_threads(threads, count)

    got = contended_repository.get(stored.task_id)
    assert got.extra["counter"] == threads * increments
    assert got.version == stored.version + threads * increments
