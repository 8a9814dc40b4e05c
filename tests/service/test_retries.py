"""Automatic retries, with an injected clock and jitter: schedule, retry_on, last error, cancel, resume."""

from __future__ import annotations

from datetime import timedelta

import pytest

from asynctask import AsyncTask
from asynctask.core import CANCELLED_ERROR
from asynctask.service.execution import RemoteStart, TaskCall, execute_task
from asynctask.service.runtime import runtime_of
from tests.support import ManualExecutor


class Flaky(AsyncTask):
    """Fails with ``kind`` for its first ``failures`` runs of each name, then answers the run number."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.runs: dict[str, int] = {}

    def get_task_id(self, name, failures=1, kind="ValueError"):
        return f"flaky-{name}"

    def main(self, name, failures=1, kind="ValueError", logger=None):
        run = self.runs[name] = self.runs.get(name, 0) + 1
        if run <= failures:
            raise {"ValueError": ValueError, "ConnectionError": ConnectionError}[kind](f"run {run} failed")
        return run


def manual(service):
    """The service's background loop never runs by itself: the test runs its steps, against its clock."""
    runtime_of(service).supervisor.stop()
    runtime_of(service).retries.jitter = lambda: 1.0  # the whole backoff: a schedule the test can know
    return service


@pytest.fixture
def make_flaky(make_service):
    def make(**kwargs):
        kwargs.setdefault("retries", 3)
        return manual(make_service(Flaky, **kwargs))

    return make


def _retry_round(service, executor):
    runtime_of(service).supervisor.run_retries()
    return executor.run_all()


def test_a_failure_is_retried_after_a_doubling_backoff_until_it_succeeds(make_flaky, executor, clock):
    service = make_flaky(retry_backoff=1, retry_backoff_max=300)
    task_id = service.run(name="a", failures=2)
    failed_at = clock()
    executor.run_all()

    waiting = service.retrieve(task_id)
    assert (waiting["status"], waiting["attempt"], waiting["start_time"]) == ("running", 2, None)
    assert waiting["retries_left"] == 2 and waiting["error"] is None
    assert waiting["retry_time"] == failed_at + timedelta(seconds=1)

    clock.advance(seconds=0.9)
    assert _retry_round(service, executor) == 0  # not due yet
    clock.advance(seconds=0.1)
    assert _retry_round(service, executor) == 1  # attempt 2 fails: the next waits 2 s
    assert service.retrieve(task_id)["retry_time"] == clock() + timedelta(seconds=2)
    clock.advance(seconds=2)
    assert _retry_round(service, executor) == 1  # attempt 3 succeeds
    assert service.wait(5)

    done = service.retrieve(task_id)
    assert (done["status"], done["result"], done["attempt"], done["retries_left"]) == ("success", 3, 3, 1)


def test_the_backoff_is_capped_and_jittered(make_flaky, executor, clock):
    service = make_flaky(retries=5, retry_backoff=10, retry_backoff_max=25)
    runtime_of(service).retries.jitter = lambda: 0.5
    task_id = service.run(name="b", failures=9)
    delays = []
    for _ in range(4):
        executor.run_all()
        detail = service.retrieve(task_id)
        delays.append((detail["retry_time"] - clock()).total_seconds())
        clock.advance(seconds=100)
        runtime_of(service).supervisor.run_retries()

    assert delays == [5.0, 10.0, 12.5, 12.5]  # half of 10, 20, then of the cap 25


def test_after_the_last_retry_the_task_fails_with_the_last_error(make_flaky, executor, clock):
    service = make_flaky(retries=2, retry_backoff=1)
    task_id = service.run(name="c", failures=5)
    for _ in range(3):
        executor.run_all()
        clock.advance(seconds=10)
        runtime_of(service).supervisor.run_retries()

    detail = service.retrieve(task_id)
    assert (detail["status"], detail["attempt"], detail["retries_left"]) == ("failed", 3, 0)
    assert detail["error"].splitlines()[-1] == "ValueError: run 3 failed"
    assert service.runs["c"] == 3


def test_only_failures_in_retry_on_are_retried(make_flaky, executor):
    service = make_flaky(retry_on=ConnectionError)
    plain = service.run(name="plain", kind="ValueError")
    network = service.run(name="network", kind="ConnectionError")
    executor.run_all()

    assert service.retrieve(plain)["status"] == "failed"
    assert service.retrieve(network)["status"] == "running" and service.retrieve(network)["attempt"] == 2


def test_a_cancel_during_the_backoff_is_never_retried(make_flaky, executor, clock):
    service = make_flaky()
    task_id = service.run(name="d", failures=1)
    executor.run_all()

    cancelled = service.cancel(task_id)
    clock.advance(seconds=60)

    assert _retry_round(service, executor) == 0
    assert cancelled["error"] == CANCELLED_ERROR
    assert service.retrieve(task_id)["status"] == "failed" and service.runs["d"] == 1


def test_a_timeout_counts_as_a_failure_and_is_retried(make_flaky, executor, clock):
    service = make_flaky(task_timeout=10, retries=1)
    task_id = service.run(name="e", failures=0)
    clock.advance(seconds=11)

    runtime_of(service).supervisor.time_out()

    detail = service.retrieve(task_id)
    assert (detail["status"], detail["attempt"], detail["retries_left"]) == ("running", 2, 0)
    clock.advance(seconds=1)
    assert _retry_round(service, executor) == 2  # the cancelled first attempt, and the retry
    assert service.retrieve(task_id)["status"] == "success" and service.runs["e"] == 1


def test_a_waiting_retry_is_heartbeaten_and_taken_over_with_its_schedule_after_its_owner_dies(
    contended_repository, tmp_path, clock
):
    owner_pool, other_pool = ManualExecutor(), ManualExecutor()
    common = dict(repository=contended_repository, clock=clock, retries=2, retry_backoff=30, lease=5)
    owner = Flaky(logger_dir=str(tmp_path), executor=owner_pool, **common)
    other = Flaky(logger_dir=str(tmp_path), executor=other_pool, resume=True, **common)
    for service in (owner, other):
        manual(service)
    try:
        task_id = owner.run(name="f", failures=1)
        owner_pool.run_all()
        due = owner.retrieve(task_id)["retry_time"]
        clock.advance(seconds=4)
        runtime_of(owner).supervisor.heartbeat()  # alive: nobody takes it over
        clock.advance(seconds=4)
        runtime_of(other).supervisor.resume()
        assert owner.retrieve(task_id)["attempt"] == 2

        # The owner is SIGKILLed: no more heartbeats. After the lease, the other takes over.
        clock.advance(seconds=6)
        runtime_of(other).supervisor.resume()
        taken = other.retrieve(task_id)
        assert (taken["attempt"], taken["retry_time"], taken["retries_left"]) == (3, due, 1)
        assert _retry_round(other, other_pool) == 0  # still its time to wait
        clock.advance(seconds=30)
        assert _retry_round(other, other_pool) == 1  # its first run here fails (each instance counts)
        assert other.retrieve(task_id)["retries_left"] == 0
        clock.advance(seconds=60)
        assert _retry_round(other, other_pool) == 1
        assert other.retrieve(task_id)["status"] == "success" and other.runs == {"f": 2}
        assert owner.runs == {"f": 1}  # only the first run was the owner's
    finally:
        owner.shutdown()
        other.shutdown()


def test_an_owner_lost_while_running_counts_as_a_failure_when_retries_are_on(
    contended_repository, tmp_path, clock
):
    common = dict(repository=contended_repository, clock=clock, retries=1, retry_backoff=1, lease=5)
    owner = Flaky(logger_dir=str(tmp_path), executor=ManualExecutor(), **common)
    other_pool = ManualExecutor()
    other = Flaky(logger_dir=str(tmp_path), executor=other_pool, resume=True, **common)
    manual(owner)
    manual(other)
    try:
        task_id = owner.run(name="g", failures=0)  # never runs: its process is lost
        clock.advance(seconds=6)
        runtime_of(other).supervisor.resume()
        detail = other.retrieve(task_id)
        assert (detail["status"], detail["attempt"], detail["retries_left"]) == ("running", 2, 0)
        clock.advance(seconds=1)
        assert _retry_round(other, other_pool) == 1
        assert other.retrieve(task_id)["status"] == "success"
    finally:
        owner.shutdown()
        other.shutdown()


def test_without_retries_the_detail_has_no_retry_fields(make_service, executor):
    service = make_service(Flaky)
    task_id = service.run(name="h", failures=1)
    executor.run_all()

    detail = service.retrieve(task_id)
    assert detail["status"] == "failed" and "retries_left" not in detail and "retry_time" not in detail


def test_a_new_submission_of_a_failed_task_gets_a_fresh_budget(make_flaky, executor, clock):
    service = make_flaky(retries=1)
    task_id = service.run(name="i", failures=3)
    executor.run_all()
    clock.advance(seconds=5)
    _retry_round(service, executor)
    assert service.retrieve(task_id)["status"] == "failed"

    service.run(name="i", failures=3)
    assert service.retrieve(task_id)["retries_left"] == 1


@pytest.mark.parametrize(
    ("arguments", "name"),
    [({"retries": -1}, "retries"), ({"retries": 1.5}, "retries"), ({"retry_backoff": 0}, "retry_backoff"),
     ({"retry_backoff_max": -1}, "retry_backoff_max"), ({"retry_on": "ValueError"}, "retry_on")],
)  # fmt: skip
def test_bad_retry_arguments_are_value_errors_naming_them(make_service, arguments, name):
    with pytest.raises(ValueError, match=name):
        make_service(Flaky, **arguments)


def test_in_another_process_a_failure_is_matched_against_retry_on_where_it_ran(tmp_path):
    from asynctask import InMemoryTaskRepository

    service = Flaky(logger_dir=str(tmp_path), executor=ManualExecutor(), repository=InMemoryTaskRepository())
    try:
        call = TaskCall(
            service, "t", 1, {"name": "x", "kind": "ConnectionError"}, str(tmp_path), "tok", (OSError,)
        )
        outcome = execute_task(call, RemoteStart())
        assert outcome.retryable is True and outcome.error.endswith("ConnectionError: run 1 failed")
        call = TaskCall(service, "t", 1, {"name": "y"}, str(tmp_path), "tok", (OSError,))
        assert execute_task(call, RemoteStart()).retryable is False
    finally:
        service.shutdown()


def test_the_background_loop_runs_a_retry_when_it_is_due_not_at_its_next_round(tmp_path):
    import time
    from concurrent.futures import ThreadPoolExecutor

    from asynctask import InMemoryTaskRepository

    pool = ThreadPoolExecutor(2)
    # Rounds every 15 s (lease and monitor_interval long): only the retry's own time can wake the loop.
    service = Flaky(
        logger_dir=str(tmp_path), repository=InMemoryTaskRepository(), executor=pool,
        retries=2, retry_backoff=0.05, lease=600, monitor_interval=600,
    )  # fmt: skip
    try:
        started = time.monotonic()
        task_id = service.run(name="real", failures=2)
        while service.retrieve(task_id)["status"] == "running" and time.monotonic() - started < 10:
            time.sleep(0.01)
        assert service.retrieve(task_id)["status"] == "success"
        assert time.monotonic() - started < 2  # two backoffs of at most 0.05 and 0.1 s, not 15 s rounds
    finally:
        service.shutdown()
        pool.shutdown()


def test_at_shutdown_a_waiting_retry_stays_for_resume_or_fails_without_a_lease(make_flaky, executor, clock):
    kept = make_flaky()
    failed = make_flaky(lease=None)
    for service, name in ((kept, "j"), (failed, "k")):
        service.run(name=name, failures=1)
        executor.run_all()
        service.shutdown()

    assert kept.repository.get("flaky-j").awaiting_retry  # its heartbeats stop: resume takes it over
    stopped = failed.repository.get("flaky-k")
    assert stopped.status.value == "failed" and "the service stopped" in stopped.error


def test_a_retry_the_store_refuses_to_start_is_tried_again_not_lost(make_flaky, executor, clock, monkeypatch):
    from asynctask import StoreUnavailableError

    service = make_flaky()
    task_id = service.run(name="blip", failures=1)
    executor.run_all()
    clock.advance(seconds=5)
    real = runtime_of(service).recorder.change_attempt
    calls = []

    def failing_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise StoreUnavailableError("the store blinked")
        return real(*args, **kwargs)

    monkeypatch.setattr(runtime_of(service).recorder, "change_attempt", failing_once)
    assert _retry_round(service, executor) == 0  # refused: postponed by a second
    assert runtime_of(service).retries.waiting() == [(task_id, 2)]
    clock.advance(seconds=1)
    assert _retry_round(service, executor) == 1
    assert service.retrieve(task_id)["status"] == "success"


def test_a_retry_handed_to_the_executor_waits_no_more_and_its_lost_owner_counts_as_a_failure(
    contended_repository, tmp_path, clock
):
    owner_pool, other_pool = ManualExecutor(), ManualExecutor()
    common = dict(repository=contended_repository, clock=clock, retries=2, retry_backoff=1, lease=5)
    owner = Flaky(logger_dir=str(tmp_path), executor=owner_pool, **common)
    other = Flaky(logger_dir=str(tmp_path), executor=other_pool, resume=True, **common)
    for service in (owner, other):
        manual(service)
    try:
        task_id = owner.run(name="l", failures=1)
        owner_pool.run_all()
        clock.advance(seconds=1)
        runtime_of(owner).supervisor.run_retries()  # handed over (a process pool would run it remotely)
        dispatched = owner.repository.get(task_id)
        assert dispatched.retry_time is None and not dispatched.awaiting_retry and dispatched.attempt == 2

        clock.advance(seconds=6)  # the owner dies while its retry runs
        runtime_of(other).supervisor.resume()
        detail = other.retrieve(task_id)
        assert (detail["attempt"], detail["retries_left"]) == (3, 0)  # a failure: one retry fewer
    finally:
        owner.shutdown()
        other.shutdown()


def test_many_retries_never_overflow_the_backoff():
    from datetime import datetime, timezone

    import attrs

    from asynctask.core import Policy, Task

    policy = Policy(retries=1000, retry_backoff=1, retry_backoff_max=300)
    task = attrs.evolve(Task.submitted("x", {}, datetime.now(timezone.utc)), retries_left=1)

    assert policy.retry_delay(task, True, 1.0) == timedelta(seconds=300)


def test_a_new_attempt_starts_without_the_last_attempts_progress(make_service, executor, clock):
    from tests.service.test_progress import Steps

    service = manual(make_service(Steps, retries=1))
    task_id = service.run(steps=2)
    executor.run_all()
    assert service.retrieve(task_id)["progress"]["fraction"] == 1.0
    service.update_task(task_id, {"status": "failed", "error": "made up"})

    service.run(task_id=task_id)  # failed: rerun as attempt 2

    rerun = service.retrieve(task_id)
    assert rerun["attempt"] == 2 and rerun["progress"] is None
