"""Writing starts: a short attempt's start goes with its outcome; a long one's is written while it runs."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from asynctask import InMemoryTaskRepository
from asynctask.service.runtime import runtime_of
from tests.service.apps import Counter
from tests.support import ManualExecutor


class CountingRepository(InMemoryTaskRepository):
    """Counts the compare-and-set writes."""

    def __init__(self):
        super().__init__()
        self.replaces = 0

    def replace(self, task, expected_version):
        self.replaces += 1
        return super().replace(task, expected_version)


class Held(Counter):
    """Runs until ``release`` is set; ``entered`` tells it is inside ``main``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.entered = threading.Event()
        self.release = threading.Event()

    def main(self, name, fail=False, value=None, logger=None):
        self.entered.set()
        assert self.release.wait(5)
        return super().main(name, fail=fail, value=value, logger=logger)


def test_a_short_attempt_writes_its_start_with_its_outcome(make_service, executor, clock):
    store = CountingRepository()
    service = make_service(repository=store)
    service.run(name="quick")
    clock.advance(seconds=3)
    executor.run_all()
    detail = service.retrieve("task-quick")
    assert detail["status"] == "success" and detail["start_time"] == detail["end_time"] == clock.now
    assert store.replaces == 1


def test_a_long_attempt_shows_its_start_while_it_runs(make_service, executor, clock):
    store = CountingRepository()
    service = make_service(cls=Held, repository=store)
    runtime_of(service).starts.delay = 3600  # this test writes the starts itself
    service.run(name="slow")
    clock.advance(seconds=2)
    started_at = clock.now
    worker = threading.Thread(target=executor.run_next)
    worker.start()
    assert service.entered.wait(5)
    assert service.retrieve("task-slow")["start_time"] is None  # not written yet
    clock.advance(seconds=5)
    runtime_of(service).supervisor.write_starts(min_age=0)
    running = service.retrieve("task-slow")
    assert (running["status"], running["start_time"]) == ("running", started_at)
    assert service.repository.get("task-slow").heartbeat_time == clock.now  # written now: alive now
    service.release.set()
    worker.join(5)
    done = service.retrieve("task-slow")
    assert (done["status"], done["start_time"]) == ("success", started_at)
    assert store.replaces == 2  # the start, then the outcome: no start written twice


def wait_for_start(service, task_id: str, timeout: float = 5.0) -> None:
    """Poll until the task's start is in the store (the supervisor writes it about 50 ms in)."""
    deadline = time.monotonic() + timeout
    while service.retrieve(task_id)["start_time"] is None:
        assert time.monotonic() < deadline, "the start was never written"
        time.sleep(0.01)


def test_the_supervisor_writes_the_start_of_a_running_attempt_on_its_own(tmp_path):
    pool = ThreadPoolExecutor(1)
    service = Held(logger_dir=str(tmp_path), executor=pool, repository=InMemoryTaskRepository())
    try:
        service.run(name="on-its-own")
        assert service.entered.wait(5)
        wait_for_start(service, "task-on-its-own")
        assert service.retrieve("task-on-its-own")["status"] == "running"
    finally:
        service.release.set()
        service.shutdown()
        pool.shutdown()
    assert service.retrieve("task-on-its-own")["status"] == "success"


def test_a_failed_short_attempt_has_its_start_too(make_service, executor, clock):
    service = make_service()
    service.run(name="bad", fail=True)
    clock.advance(seconds=1)
    executor.run_all()
    detail = service.retrieve("task-bad")
    assert detail["status"] == "failed" and detail["start_time"] == detail["end_time"] == clock.now


def test_an_attempt_cancelled_in_the_queue_has_no_start(make_service, executor):
    service = make_service()
    service.run(name="never")
    future = executor.pending[0][0]
    assert future.cancel()
    executor.run_all()
    detail = service.retrieve("task-never")
    assert detail["status"] == "failed" and detail["start_time"] is None
    assert "cancelled before it started" in detail["error"]


def test_an_attempt_another_process_took_over_while_it_was_queued_does_not_start(
    make_service, executor, clock
):
    here = make_service(task_timeout=60)
    there = make_service(task_timeout=60, executor=ManualExecutor())  # another process on the same store
    here.run(name="q")
    queued_for_a_second(here)
    clock.advance(seconds=61)
    there.run(name="q")  # timed out in the queue: rerun there, attempt 2
    executor.run_all()
    runtime_of(there).attempts.executor.run_all()
    assert (len(here.calls), len(there.calls)) == (0, 1)
    detail = here.retrieve("task-q")
    assert (detail["status"], detail["attempt"]) == ("success", 2)


def test_an_attempt_ended_by_update_task_while_queued_does_not_start(make_service, executor):
    here = make_service()
    there = make_service(executor=ManualExecutor())  # another process on the same store
    here.run(name="q")
    queued_for_a_second(here)
    here.update_task("task-q", {"status": "failed", "error": "cancelled by its owner"})
    there.run(name="q")  # failed, so rerun there: attempt 2
    executor.run_all()
    runtime_of(there).attempts.executor.run_all()
    assert (len(here.calls), len(there.calls)) == (0, 1)
    detail = here.retrieve("task-q")
    assert (detail["status"], detail["attempt"]) == ("success", 2)


def test_a_start_not_written_yet_goes_with_an_update_task_from_a_custom_callback(
    make_service, executor, clock
):
    class Recording(Counter):
        def callback(self, future, task_id):
            self.update_task(task_id, {"status": "success", "result": future.result(), "note": "mine"})

    service = make_service(cls=Recording)
    service.run(name="custom")
    clock.advance(seconds=4)
    began = clock.now
    executor.run_all()
    detail = service.retrieve("task-custom")
    assert (detail["status"], detail["note"], detail["start_time"]) == ("success", "mine", began)


def test_a_result_the_store_refuses_fails_the_task_with_its_start(make_service, executor, clock):
    service = make_service()
    service.run(name="odd")
    service.main = lambda logger=None, **params: {1, 2}  # a set: no store holds it
    clock.advance(seconds=1)
    executor.run_all()
    detail = service.retrieve("task-odd")
    assert detail["status"] == "failed" and detail["start_time"] == clock.now
    assert "UnencodableValueError" in detail["error"]


def test_a_started_attempt_that_times_out_keeps_its_start(make_service, executor, clock):
    service = make_service(cls=Held, task_timeout=60)
    runtime_of(service).starts.delay = 3600
    service.run(name="late")
    began = clock.now
    worker = threading.Thread(target=executor.run_next)
    worker.start()
    assert service.entered.wait(5)
    clock.advance(seconds=61)
    runtime_of(service).supervisor.time_out()
    detail = service.retrieve("task-late")
    assert detail["status"] == "failed" and detail["start_time"] == began
    assert "TimeoutError" in detail["error"]
    service.release.set()
    worker.join(5)


class FailingOnce(CountingRepository):
    """Its first compare-and-set write raises, as a store that blinks would."""

    def __init__(self):
        super().__init__()
        self.fail_next = False

    def replace(self, task, expected_version):
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("store unreachable")
        return super().replace(task, expected_version)


def test_a_start_the_store_refused_is_tried_again_after_a_back_off(make_service, clock):
    first, second = ManualExecutor(), ManualExecutor()
    store = FailingOnce()
    service = make_service(cls=Held, repository=store, executor=first)
    runtime_of(service).starts.delay = 3600
    service.run(name="a")
    runtime_of(
        service
    ).attempts.executor = second  # the second attempt queues apart, to run in a thread of its own
    service.run(name="b")
    workers = [threading.Thread(target=pool.run_next) for pool in (first, second)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 5
    while sum(item.start_time is not None for item in runtime_of(service).attempts.items()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    store.fail_next = True
    runtime_of(service).supervisor.write_starts(
        min_age=0
    )  # the first write fails: the round stops and backs off
    assert sum(service.retrieve(f"task-{name}")["start_time"] is not None for name in "ab") == 0
    assert runtime_of(service).starts.backoff == 0.5
    runtime_of(service).supervisor.write_starts(min_age=0)
    assert all(service.retrieve(f"task-{name}")["start_time"] is not None for name in "ab")
    assert runtime_of(service).starts.backoff == 0.0
    service.release.set()
    for worker in workers:
        worker.join(5)


def queued_for_a_second(service) -> None:
    """As if the attempts in flight had waited a second in the executor's queue (that clock is real)."""
    for item in runtime_of(service).attempts.items():
        item.dispatched_at -= 1.0


def test_an_attempt_that_starts_at_once_does_not_read_the_store_first(make_service, executor):
    service = make_service()
    service.run(name="at-once")
    reads = []
    original = service.repository.get
    service.repository.get = lambda task_id: reads.append(task_id) or original(task_id)
    executor.run_all()
    service.repository.get = original
    assert reads == [] and service.retrieve("task-at-once")["status"] == "success"


def test_an_attempt_ended_while_queued_gets_no_start_even_through_a_custom_callback(make_service, executor):
    class Annotating(Counter):
        def callback(self, future, task_id):
            self.update_task(task_id, {"note": "seen by the callback"})
            super().callback(future, task_id)

    service = make_service(cls=Annotating)
    service.run(name="ended")
    queued_for_a_second(service)
    service.update_task("task-ended", {"status": "failed", "error": "cancelled"})
    executor.run_all()
    detail = service.retrieve("task-ended")
    assert service.calls == [] and detail["status"] == "failed" and detail["start_time"] is None


def test_main_ending_its_own_task_with_update_task_keeps_the_start(make_service, executor, clock):
    class SelfReporting(Counter):
        def main(self, name, fail=False, value=None, logger=None):
            self.update_task(f"task-{name}", {"status": "success", "result": "reported by main"})
            return "returned"

    service = make_service(cls=SelfReporting)
    service.run(name="self")
    clock.advance(seconds=2)
    executor.run_all()
    detail = service.retrieve("task-self")
    assert (detail["status"], detail["result"], detail["start_time"]) == (
        "success",
        "reported by main",
        clock.now,
    )


class LateListing(ThreadPoolExecutor):
    """Starts the work, then dawdles before ``submit`` returns: the attempt runs before it is listed."""

    def submit(self, fn, /, *args, **kwargs):
        future = super().submit(fn, *args, **kwargs)
        time.sleep(0.15)
        return future


def test_an_attempt_that_started_before_it_was_listed_still_gets_its_start_written(tmp_path):
    pool = LateListing(1)
    service = Held(logger_dir=str(tmp_path), executor=pool, repository=InMemoryTaskRepository())
    try:
        service.run(name="early")
        wait_for_start(service, "task-early")
        assert service.retrieve("task-early")["status"] == "running"
    finally:
        service.release.set()
        service.shutdown()
        pool.shutdown()


def test_a_queued_attempt_whose_start_the_store_refused_runs_and_its_outcome_carries_the_start(
    make_service, executor, clock
):
    store = FailingOnce()
    service = make_service(repository=store)
    service.run(name="blink")
    queued_for_a_second(service)
    clock.advance(seconds=3)
    store.fail_next = True  # the start write at the start
    executor.run_all()
    detail = service.retrieve("task-blink")
    assert len(service.calls) == 1
    assert (detail["status"], detail["start_time"]) == ("success", clock.now)
