"""Timeouts, heartbeats, orphaned tasks, resume, and a store that goes away for a while."""

import logging

import pytest

from asynctask import InMemoryTaskRepository, Task
from asynctask.service.runtime import runtime_of
from tests.service.test_outcomes import Gated
from tests.support import T0, ManualExecutor, race


def test_a_task_past_task_timeout_is_failed_with_a_timeout_error_and_cancelled(make_service, executor, clock):
    service = make_service(task_timeout=60)
    service.run(name="slow")
    clock.advance(seconds=60)
    runtime_of(service).supervisor.tick()
    detail = service.retrieve("task-slow")
    assert detail["status"] == "failed"
    assert detail["error"] == "TimeoutError: the task ran longer than task_timeout (0:01:00)"
    executor.run_all()
    assert service.calls == []  # the queued attempt was cancelled, never run


def test_the_late_result_of_a_timed_out_attempt_is_dropped(make_service, executor, clock):
    service = make_service(cls=Gated, task_timeout=60)
    service.run(name="g")
    worker = service.start_first_run(executor)
    clock.advance(seconds=61)
    runtime_of(service).supervisor.tick()
    service.release.set()
    worker.join()
    detail = service.retrieve("task-g")
    assert detail["status"] == "failed" and detail["error"].startswith("TimeoutError")
    assert detail["result"] is None
    service.run(name="g")
    executor.run_all()
    assert service.retrieve("task-g")["result"] == "result of attempt 2"


def test_heartbeats_keep_a_long_task_alive_past_the_lease(make_service, executor, clock, repository):
    service = make_service(lease=60)
    service.run(name="long")
    for _ in range(5):
        clock.advance(seconds=30)
        runtime_of(service).supervisor.tick()
    assert repository.get("task-long").heartbeat_time == clock.now
    assert service.retrieve("task-long")["status"] == "running"
    service.run(name="long")
    assert len(executor.pending) == 1


def test_a_running_task_whose_owner_stopped_heartbeating_reads_as_failed(make_service, repository, clock):
    repository.insert(Task.submitted("task-lost", {"name": "lost"}, T0))  # as if by a process since killed
    service = make_service(lease=60)
    clock.advance(seconds=61)
    detail = service.retrieve("task-lost")
    assert detail["status"] == "failed"
    assert detail["error"].startswith("asynctask.core.errors.OwnerLostError: no heartbeat")


def test_a_new_submission_reruns_an_orphaned_task(make_service, repository, executor, clock):
    repository.insert(Task.submitted("task-lost", {"name": "lost"}, T0))
    service = make_service(lease=60)
    clock.advance(seconds=61)
    service.run(name="lost")
    executor.run_all()
    detail = service.retrieve("task-lost")
    assert (detail["status"], detail["attempt"]) == ("success", 2)


def test_with_resume_exactly_one_of_two_live_services_reruns_an_orphaned_task(
    make_service, contended_repository, clock
):
    contended_repository.insert(Task.submitted("task-orphan", {"name": "orphan"}, T0))
    executors = [ManualExecutor(), ManualExecutor()]
    services = [make_service(repository=contended_repository, executor=e, resume=True) for e in executors]
    clock.advance(seconds=61)
    race(2, lambda index: runtime_of(services[index]).supervisor.tick())
    assert sum(e.run_all() for e in executors) == 1
    assert sum(len(s.calls) for s in services) == 1
    detail = services[0].retrieve("task-orphan")
    assert (detail["status"], detail["attempt"], detail["result"]["name"]) == ("success", 2, "orphan")


class FlakyRepository(InMemoryTaskRepository):
    """Refuses the next ``failures`` replaces, as a store that is down would."""

    def __init__(self):
        super().__init__()
        self.failures = 0

    def replace(self, task, expected_version):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("store unreachable")
        return super().replace(task, expected_version)


def test_a_result_the_store_refused_is_written_when_the_store_comes_back(make_service, executor, clock):
    store = FlakyRepository()
    service = make_service(repository=store, lease=60)  # the outage outlasts the lease
    service.run(name="outage")
    store.failures = 4  # the result (it carries the start), then three retries fail
    executor.run_next()
    assert runtime_of(service).recorder.unwritten == 1
    for _ in range(3):
        clock.advance(seconds=30)
        runtime_of(service).supervisor.tick()
        assert service.retrieve("task-outage")["status"] == "running"
    clock.advance(seconds=30)
    runtime_of(service).supervisor.tick()
    detail = service.retrieve("task-outage")
    assert (detail["status"], detail["result"]) == ("success", {"name": "outage", "value": None})
    assert runtime_of(service).recorder.unwritten == 0
    assert len(service.calls) == 1


def test_wait_also_waits_for_outcomes_the_store_refused(make_service, executor):
    store = FlakyRepository()
    service = make_service(repository=store)
    service.run(name="held")
    store.failures = 1  # the result (it carries the start)
    executor.run_next()
    assert service.wait(timeout=0.1) is False
    runtime_of(service).recorder.flush(timeout=1)
    assert service.wait(timeout=0.1) is True
    assert service.retrieve("task-held")["status"] == "success"


def test_shutdown_writes_the_outcomes_the_store_refused_once_it_is_back(make_service, executor):
    store = FlakyRepository()
    service = make_service(repository=store)
    service.run(name="late")
    store.failures = 2
    executor.run_next()
    service.shutdown()
    assert store.get("task-late").status.value == "success"


def test_shutdown_logs_loudly_what_the_store_still_refuses(make_service, executor, caplog, monkeypatch):
    monkeypatch.setattr("asynctask.service.runtime.SHUTDOWN_FLUSH_SECONDS", 0.1)
    store = FlakyRepository()
    service = make_service(repository=store)
    service.run(name="lost")
    store.failures = 10**6
    executor.run_next()
    with caplog.at_level(logging.ERROR, logger="asynctask"):
        service.shutdown()
    assert (
        "GAVE UP recording the result of task task-lost attempt 1: the store still refused it" in caplog.text
    )


def test_a_stopping_service_fails_orphans_instead_of_resuming_them(make_service, repository, executor, clock):
    repository.insert(Task.submitted("task-lost", {"name": "lost"}, T0))
    service = make_service(lease=60, resume=True)
    service.shutdown()
    clock.advance(seconds=61)
    runtime_of(service).supervisor.resume()
    assert service.retrieve("task-lost")["status"] == "failed"
    assert not executor.pending


def test_a_store_down_for_too_long_is_logged_loudly(make_service, executor, clock, caplog):
    store = FlakyRepository()
    service = make_service(repository=store, lease=None)
    service.run(name="gone")
    store.failures = 10**6
    executor.run_next()
    with caplog.at_level(logging.ERROR, logger="asynctask"):
        for _ in range(30):
            clock.advance(seconds=30)
            runtime_of(service).supervisor.tick()
    assert runtime_of(service).recorder.unwritten == 0
    assert "GAVE UP recording the result of task task-gone attempt 1" in caplog.text


@pytest.mark.parametrize("lease", [0, -1, "1m"])
def test_a_bad_lease_is_a_value_error_naming_it(make_service, lease):
    with pytest.raises(ValueError, match="lease"):
        make_service(lease=lease)


def test_with_resume_reading_an_orphaned_task_reruns_it_instead_of_failing_it(
    make_service, repository, executor, clock
):
    repository.insert(Task.submitted("task-lost", {"name": "lost"}, T0))
    service = make_service(lease=60, resume=True)
    clock.advance(seconds=61)
    assert (service.retrieve("task-lost")["status"], service.retrieve("task-lost")["attempt"]) == (
        "running",
        2,
    )
    executor.run_all()
    assert service.retrieve("task-lost")["status"] == "success" and len(service.calls) == 1


def test_a_task_that_waited_long_in_the_queue_is_not_taken_for_an_orphan_when_it_starts(
    make_service, executor, clock
):
    service = make_service(lease=60)
    service.run(name="queued")
    for _ in range(10):  # ten minutes in the queue, heartbeated all along
        clock.advance(seconds=60)
        runtime_of(service).supervisor.tick()
    executor.run_next()  # starts (and ends) now: its writes must not bring back an old heartbeat
    clock.advance(seconds=30)
    detail = service.retrieve("task-queued")
    assert (detail["status"], detail["attempt"]) == ("success", 1)


def test_starting_is_a_sign_of_life(make_service, repository, executor, clock):
    service = make_service(cls=Gated, lease=60)
    service.run(name="g")
    for _ in range(3):
        clock.advance(seconds=50)
        runtime_of(service).supervisor.tick()
    worker = service.start_first_run(executor)
    assert repository.get("task-g").heartbeat_time == clock.now
    clock.advance(seconds=30)
    assert service.retrieve("task-g")["status"] == "running"
    service.release.set()
    worker.join()
