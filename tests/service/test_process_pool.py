"""``ProcessPool``: a timeout or a cancel ends the task's process, and a new process takes its place."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from asynctask import ProcessPool, SqliteTaskRepository
from tests.e2e.sample_app import Sleeper

pytest.importorskip("pebble")


def _until(predicate, timeout: float = 10.0) -> float:
    """Seconds until ``predicate()`` held; fails after ``timeout``."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(0.02)
    return time.monotonic() - start


def _still(marker: Path, seconds: float = 0.3) -> bool:
    """The marker did not grow for ``seconds``: nothing runs the task any more."""
    size = marker.stat().st_size
    time.sleep(seconds)
    return marker.stat().st_size == size


def _pid_of(marker: Path) -> int:
    return int(marker.read_text().split()[0])


def _sleeper(tmp_path, monkeypatch, workers: int, **options):
    """A ``Sleeper`` on SQLite in ``tmp_path``, run by a ``ProcessPool`` of ``workers``."""
    monkeypatch.setenv("RECORDER_DIR", str(tmp_path))
    pool = ProcessPool(workers)
    service = Sleeper(
        repository=SqliteTaskRepository(tmp_path / "tasks.db"),
        logger_dir=str(tmp_path / "logs"),
        executor=pool,
        **options,
    )
    return pool, service


@pytest.fixture
def sleeper(tmp_path, monkeypatch):
    pool, service = _sleeper(tmp_path, monkeypatch, workers=2, task_timeout=1, lease=1)
    yield service
    pool.shutdown(wait=True, cancel_futures=True)
    service.shutdown()


def test_a_timed_out_task_reads_failed_and_its_process_is_gone(sleeper, tmp_path):
    marker = tmp_path / "slow"
    task_id = sleeper.run(marker=str(marker), seconds=60)
    _until(marker.exists)

    took = _until(lambda: sleeper.retrieve(task_id)["status"] != "running")

    assert took < 2.5  # task_timeout=1, and the supervisor looks every quarter of a second
    assert sleeper.retrieve(task_id)["error"].splitlines()[-1].startswith("TimeoutError")
    assert _until(lambda: _still(marker), timeout=3) < 3
    assert not os.path.exists(f"/proc/{_pid_of(marker)}")


def test_a_cancelled_running_task_is_ended_within_a_second(sleeper, tmp_path):
    marker = tmp_path / "cancelled"
    task_id = sleeper.run(marker=str(marker), seconds=60)
    _until(marker.exists)

    sleeper.cancel(task_id)

    assert _until(lambda: _still(marker, 0.2), timeout=3) < 1.5
    assert not os.path.exists(f"/proc/{_pid_of(marker)}")
    assert sleeper.retrieve(task_id)["error"].endswith("TaskCancelledError: cancelled by request")


def test_the_process_that_replaces_an_ended_one_runs_setup_before_its_task(tmp_path, monkeypatch):
    pool, service = _sleeper(tmp_path, monkeypatch, workers=1)
    try:
        first, second = tmp_path / "first", tmp_path / "second"
        service.cancel(_running(service, first))
        _until(lambda: not os.path.exists(f"/proc/{_pid_of(first)}"))

        task_id = service.run(marker=str(second), seconds=0.05)
        _until(lambda: service.retrieve(task_id)["status"] == "success")

        setups = {int(path.name.split("-")[1]) for path in tmp_path.glob("setup-*")}
        assert _pid_of(second) != _pid_of(first)  # the only process was ended: a new one ran it
        assert setups == {_pid_of(first), _pid_of(second)}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        service.shutdown()


def _running(service, marker: Path) -> str:
    task_id = service.run(marker=str(marker), seconds=60)
    _until(marker.exists)
    return task_id


def test_shutdown_with_cancel_futures_drops_queued_tasks(tmp_path):
    pool = ProcessPool(1)
    try:
        running = pool.submit(time.sleep, 0.3)
        queued = pool.submit(time.sleep, 0.3)
        _until(running.running)
        pool.shutdown(wait=True, cancel_futures=True)
        assert running.done() and not running.cancelled()
        assert queued.cancelled()
    finally:
        pool.shutdown(wait=False)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_max_workers_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="max_workers"):
        ProcessPool(bad)


def test_without_pebble_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pebble", None)

    with pytest.raises(ImportError, match=r'pip install "asynctask\[processes\]"'):
        ProcessPool(1)


def test_a_cancelled_queued_task_never_starts_and_the_running_one_goes_on(tmp_path, monkeypatch):
    pool, service = _sleeper(tmp_path, monkeypatch, workers=1)
    try:
        running, queued = tmp_path / "running", tmp_path / "queued"
        _running(service, running)
        queued_id = service.run(marker=str(queued), seconds=0.05)

        service.cancel(queued_id)

        assert not _still(running, 0.2)  # the running one still works
        assert service.retrieve("sleep-running")["status"] == "running"
        service.cancel("sleep-running")
        _until(lambda: _still(running, 0.1))
        time.sleep(0.2)
        assert not queued.exists()  # the freed process never ran the cancelled one
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        service.shutdown()
