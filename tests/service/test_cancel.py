"""Cancel: recorded failed at once, a queued attempt never starts, a running one's result is dropped."""

from __future__ import annotations

import threading

import pytest

from asynctask import TaskCancelledError, TaskFinishedError, TaskNotFoundError
from asynctask.core import CANCELLED_ERROR, AsyncTaskError
from asynctask.service.runtime import runtime_of
from tests.service.apps import Counter


def test_cancelling_a_queued_task_records_it_failed_and_it_never_runs(service, executor):
    service.run(name="queued")

    detail = service.cancel("task-queued")

    assert detail["status"] == "failed" and detail["end_time"] is not None
    assert detail["error"].splitlines()[-1].endswith("TaskCancelledError: cancelled by request")
    assert service.retrieve("task-queued") == detail
    executor.run_all()
    assert service.wait(5)
    assert service.calls == []  # main never ran
    assert service.retrieve("task-queued")["error"] == CANCELLED_ERROR


class Blocking(Counter):
    """main waits for ``release``; ``entered`` says it runs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.entered, self.release = threading.Event(), threading.Event()

    def main(self, name, fail=False, value=None, logger=None):
        self.entered.set()
        self.release.wait(5)
        return "late"


def test_cancelling_a_running_task_drops_its_late_result(make_service, executor):
    service = make_service(Blocking)
    service.run(name="slow")
    worker = threading.Thread(target=executor.run_all)
    worker.start()
    assert service.entered.wait(5)

    service.cancel("task-slow")
    service.release.set()
    worker.join(5)
    assert service.wait(5)

    stored = service.retrieve("task-slow")
    assert stored["status"] == "failed" and stored["result"] is None
    assert stored["error"] == CANCELLED_ERROR


def test_a_cancelled_task_is_rerun_by_the_next_identical_submission(service, executor):
    service.run(name="again")
    service.cancel("task-again")

    service.run(name="again")
    executor.run_all()
    assert service.wait(5)

    detail = service.retrieve("task-again")
    assert detail["status"] == "success" and detail["attempt"] == 2


def test_cancelling_an_unknown_or_finished_task_raises(service, executor):
    with pytest.raises(TaskNotFoundError):
        service.cancel("nobody")
    service.run(name="done")
    executor.run_all()
    assert service.wait(5)

    with pytest.raises(TaskFinishedError, match="already success") as caught:
        service.cancel("task-done")
    assert isinstance(caught.value, AsyncTaskError) and caught.value.status == "success"


def test_a_cancel_from_another_process_stops_the_attempt_at_the_next_heartbeat_round(
    contended_repository, tmp_path, clock, executor
):
    owner = Counter(logger_dir=str(tmp_path), repository=contended_repository, executor=executor, clock=clock)
    other = Counter(logger_dir=str(tmp_path), repository=contended_repository, clock=clock)
    try:
        owner.run(name="x")
        other.cancel("task-x")
        (item,) = runtime_of(owner).attempts.items()
        assert not item.stopped  # the owner does not know yet

        runtime_of(owner).supervisor.heartbeat()

        assert item.stopped and item.future.cancelled()
        executor.run_all()
        assert owner.wait(5)
        assert owner.calls == []
        assert owner.retrieve("task-x")["error"] == CANCELLED_ERROR
    finally:
        owner.shutdown()
        other.shutdown()


def test_a_heartbeat_stops_an_attempt_whose_task_another_process_reran(contended_repository, tmp_path, clock):
    from tests.support import ManualExecutor

    first, second = ManualExecutor(), ManualExecutor()
    owner = Counter(
        logger_dir=str(tmp_path),
        repository=contended_repository,
        executor=first,
        clock=clock,
        task_timeout=60,
    )
    other = Counter(
        logger_dir=str(tmp_path),
        repository=contended_repository,
        executor=second,
        clock=clock,
        task_timeout=60,
    )
    try:
        owner.run(name="x")
        clock.advance(seconds=61)
        other.run(name="x")  # timed out: the other process reruns it as attempt 2
        (stale,) = runtime_of(owner).attempts.items()

        runtime_of(owner).supervisor.heartbeat()

        assert stale.stopped and stale.attempt == 1 and stale.future.cancelled()
        second.run_all()
        first.run_all()
        assert owner.calls == [] and other.calls == [{"name": "x"}]
    finally:
        owner.shutdown()
        other.shutdown()


def test_the_cancelled_error_is_importable_from_the_package():
    import asynctask

    assert asynctask.TaskCancelledError is TaskCancelledError
    assert issubclass(TaskCancelledError, AsyncTaskError)
