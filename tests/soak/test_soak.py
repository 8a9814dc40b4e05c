"""Soak: thousands of tasks through one service leave no descriptors, threads or loggers behind."""

from __future__ import annotations

import gc
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from asynctask import AsyncTask, InMemoryTaskRepository

TASKS = 2000
FIRST = 100
WORKERS = 8
SUPERVISOR = "asynctask-supervisor-Echo"

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads /proc (Linux)")


class Echo(AsyncTask):
    """A task that does nothing but return its number."""

    def main(self, n, logger=None):
        return n


def resources(folder=None) -> dict:
    """What a leak would grow: open descriptors, live threads, registered loggers, resident memory.

    Other tests leave background threads and sockets (a Dask client) that come
    and go, so descriptors count those on files below ``folder`` and threads
    count this service's own.
    """
    gc.collect()
    with open("/proc/self/status") as status:
        rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
    return {
        "fds": sum(_points_below(fd, folder) for fd in os.listdir("/proc/self/fd")),
        "all_fds": len(os.listdir("/proc/self/fd")),
        "threads": sum(t.name.startswith("soak") or t.name == SUPERVISOR for t in threading.enumerate()),
        "loggers": len(logging.Logger.manager.loggerDict),
        "rss": rss,
    }


def _points_below(fd: str, folder) -> bool:
    try:
        return folder is None or os.readlink(f"/proc/self/fd/{fd}").startswith(str(folder))
    except OSError:  # closed meanwhile
        return False


def start_every_thread(executor: ThreadPoolExecutor) -> None:
    """Make the pool start all its threads now, so later samples do not count them as growth."""
    barrier = threading.Barrier(WORKERS + 1)
    for _ in range(WORKERS):
        executor.submit(barrier.wait)
    barrier.wait()


@pytest.fixture
def service(tmp_path):
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="soak") as executor:
        start_every_thread(executor)
        api = Echo(repository=InMemoryTaskRepository(), logger_dir=tmp_path / "logs", executor=executor)
        yield api
        api.shutdown()


def run_tasks(service: Echo, numbers: range) -> None:
    for n in numbers:
        service.run(n=n)
    assert service.wait(timeout=120)


def test_descriptors_threads_and_loggers_stay_flat_from_100_to_2000_tasks(service, tmp_path):
    run_tasks(service, range(FIRST))
    first = resources(tmp_path)
    run_tasks(service, range(FIRST, TASKS))
    last = resources(tmp_path)
    assert last["fds"] <= first["fds"]
    assert last["all_fds"] < first["all_fds"] + 50  # nothing like one per task
    assert first["threads"] == WORKERS + 1  # the pool and the supervisor
    assert last["threads"] <= first["threads"]
    assert last["loggers"] <= first["loggers"]
    assert len(service.repository) == TASKS


def test_memory_grows_by_the_stored_records_only(service):
    run_tasks(service, range(FIRST))
    first = resources()
    run_tasks(service, range(FIRST, TASKS))
    grown = resources()["rss"] - first["rss"]
    # The memory store keeps every record (a few kB each); a leak per task would be far larger.
    assert grown < (TASKS - FIRST) * 16 * 1024
