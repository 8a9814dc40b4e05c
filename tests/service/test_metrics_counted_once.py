"""Metrics of attempts that run in other processes: counted once, in the service's process."""

from __future__ import annotations

import time

import pytest

from asynctask import InMemoryTaskRepository, ProcessPool
from tests.service.apps import Progressing, Worker

prometheus_client = pytest.importorskip("prometheus_client")
pytest.importorskip("pebble")
from asynctask.adapters.prometheus import PrometheusMetrics  # noqa: E402


def _counted(cls, tmp_path, executor, **options):
    """A service of ``cls`` counting into a registry of its own, and a reader of its samples."""
    registry = prometheus_client.CollectorRegistry()
    service = cls(
        repository=InMemoryTaskRepository(), logger_dir=str(tmp_path), executor=executor,
        metrics=PrometheusMetrics(registry), **options,
    )  # fmt: skip

    def sample(name, **labels):
        return registry.get_sample_value(name, {"service": cls.__name__, **labels})

    return service, sample


def test_outcomes_from_a_process_pool_are_counted_once_with_their_durations(tmp_path):
    pool = ProcessPool(2)
    service, sample = _counted(Worker, tmp_path, pool, marks_dir=tmp_path)
    try:
        for n, fail in ((1, False), (2, False), (3, True)):
            service.run(n=n, fail=fail)
        assert service.wait(30)
    finally:
        service.shutdown()
        pool.shutdown()

    assert sample("asynctask_tasks_finished_total", status="success") == 2
    assert sample("asynctask_tasks_finished_total", status="failed") == 1
    assert sample("asynctask_task_run_seconds_count") == 3  # the start came back with each outcome
    assert sample("asynctask_task_queue_seconds_count") == 3
    assert sample("asynctask_tasks_in_flight", state="waiting") == 0
    assert sample("asynctask_tasks_in_flight", state="running") == 0


class OwnCallback(Worker):
    """Records its outcome itself, as the original library's users did: ``update_task`` with a status."""

    def callback(self, future, task_id):
        self.update_task(task_id, {"status": "success", "result": future.result()})


def test_a_task_a_users_callback_ends_with_update_task_is_counted_finished(tmp_path, executor):
    service, sample = _counted(OwnCallback, tmp_path, executor, marks_dir=tmp_path)
    service.run(n=4)
    executor.run_all()
    service.update_task("w-4", {"note": "seen"})  # a finished task updated again is not finished again

    assert sample("asynctask_tasks_finished_total", status="success") == 1
    service.shutdown()


def test_the_store_fault_watch_wraps_every_method_of_the_port():
    from asynctask import TaskRepository
    from asynctask.service.store_faults import WatchedRepository

    port = {
        name for name, value in vars(TaskRepository).items() if callable(value) and not name.startswith("_")
    }
    assert {name for name in port if name not in vars(WatchedRepository)} == set()


def test_an_attempt_running_in_a_process_pool_reads_running_while_it_runs(tmp_path):
    pool = ProcessPool(1)
    service, sample = _counted(Progressing, tmp_path, pool)
    gate = tmp_path / "gate"

    def in_flight(state):
        return sample("asynctask_tasks_in_flight", state=state)

    try:
        task_id = service.run(gate=str(gate))
        deadline = time.monotonic() + 20
        while service.retrieve(task_id).get("progress") is None:  # it reported: it runs in the pool
            assert time.monotonic() < deadline
            time.sleep(0.02)

        assert (in_flight("waiting"), in_flight("running")) == (0, 1)  # it asked before it started

        gate.touch()
        assert service.wait(20)
        assert (in_flight("waiting"), in_flight("running")) == (0, 0)
        assert sample("asynctask_task_queue_seconds_count") == sample("asynctask_task_run_seconds_count") == 1
    finally:
        service.shutdown()
        pool.shutdown()
