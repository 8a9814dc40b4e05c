"""``progress(fraction, message)`` inside ``main``: checked, coalesced, fenced, and a way to stop a thread."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from asynctask import AsyncTask, InMemoryTaskRepository, InvalidParamsError, TaskCancelledError
from asynctask.core import CANCELLED_ERROR
from asynctask.service.progress import WRITE_EVERY, make_report
from asynctask.service.runtime import runtime_of


class Steps(AsyncTask):
    """Reports each of ``steps`` as it goes; ``done`` collects where it stopped."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stopped_at: list = []

    def main(self, steps, message="step", progress=None, logger=None):
        for step in range(steps):
            try:
                progress((step + 1) / steps, f"{message} {step + 1}")
            except TaskCancelledError:
                self.stopped_at.append(step)
                raise
        return steps


class Counting(InMemoryTaskRepository):
    """Counts the writes of each task (compare-and-set misses write nothing)."""

    def __init__(self):
        super().__init__()
        self.writes: dict[str, int] = {}

    def replace(self, task, expected_version):
        written = super().replace(task, expected_version)
        self.writes[task.task_id] = self.writes.get(task.task_id, 0) + written
        return written


def test_the_last_progress_is_in_the_detail_with_its_time(make_service, executor):
    service = make_service(Steps)
    task_id = service.run(steps=4)
    executor.run_all()
    assert service.wait(5)

    detail = service.retrieve(task_id)
    assert detail["status"] == "success"
    assert detail["progress"]["fraction"] == 1.0 and detail["progress"]["message"] == "step 4"
    assert detail["progress"]["time"].endswith("+00:00")


def test_a_tight_loop_of_progress_costs_the_store_a_few_writes(tmp_path):
    repository = Counting()
    pool = ThreadPoolExecutor(1)
    service = Steps(logger_dir=str(tmp_path), repository=repository, executor=pool)
    try:
        started = time.monotonic()
        task_id = service.run(steps=200_000)
        assert service.wait(30)
        took = time.monotonic() - started
    finally:
        service.shutdown()
        pool.shutdown()

    assert service.retrieve(task_id)["progress"]["fraction"] == 1.0
    # At most one progress write per WRITE_EVERY, one last one, and the start and the outcome.
    assert repository.writes[task_id] <= took / WRITE_EVERY + 4, (repository.writes[task_id], took)


@pytest.mark.parametrize(
    ("fraction", "message"),
    [(1.5, None), (-0.1, None), (float("nan"), None), (True, None), ("half", None), (0.5, 3)],
)
def test_a_bad_fraction_or_message_is_a_value_error_inside_main(fraction, message):
    with pytest.raises(ValueError, match="progress"):
        make_report(fraction, message)


def test_fraction_and_message_are_each_optional_and_a_long_message_is_cut():
    assert make_report().fraction is None and make_report().message is None
    assert make_report(1).fraction == 1.0
    assert len(make_report(message="x" * 10_000).message) == 500


def test_progress_is_reserved_like_logger(make_service):
    service = make_service(Steps)

    with pytest.raises(InvalidParamsError, match="progress"):
        service.run(steps=1, progress=0.5)
    assert (
        "progress"
        not in service.app()
        .test_client()
        .get("/api/openapi.json")
        .get_json()["components"]["schemas"]["Params"]["properties"]
    )


class Looping(AsyncTask):
    """Reports until it is told to stop: a thread only stops at its next progress call."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0
        self.entered = threading.Event()

    def main(self, progress=None, logger=None):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self.calls += 1
            self.entered.set()
            progress(None, "working")
            time.sleep(0.001)
        return "never cancelled"


def test_a_cancelled_thread_stops_at_its_next_progress_call(tmp_path):
    pool = ThreadPoolExecutor(1)
    service = Looping(logger_dir=str(tmp_path), repository=InMemoryTaskRepository(), executor=pool)
    try:
        task_id = service.run()
        assert service.entered.wait(5)
        service.cancel(task_id)
        assert service.wait(2)  # main raised TaskCancelledError at its next call and ended
        calls = service.calls
        time.sleep(0.05)
        assert service.calls == calls
        assert service.retrieve(task_id)["error"] == CANCELLED_ERROR
    finally:
        service.shutdown()
        pool.shutdown()


def test_a_timed_out_thread_stops_at_its_next_progress_call_too(tmp_path, clock):
    pool = ThreadPoolExecutor(1)
    service = Looping(
        logger_dir=str(tmp_path),
        repository=InMemoryTaskRepository(),
        executor=pool,
        clock=clock,
        task_timeout=60,
    )
    try:
        task_id = service.run()
        assert service.entered.wait(5)
        clock.advance(seconds=61)
        runtime_of(service).supervisor.time_out()
        assert service.wait(2)
        assert service.retrieve(task_id)["error"].startswith("TimeoutError")
    finally:
        service.shutdown()
        pool.shutdown()


def test_progress_of_a_superseded_attempt_is_dropped(make_service, executor, clock):
    service = make_service(Steps, task_timeout=60)
    task_id = service.run(steps=1)
    board = runtime_of(service).attempts.board
    (old,) = runtime_of(service).attempts.items()
    link = board.link(old)
    clock.advance(seconds=61)
    service.run(task_id=task_id)  # timed out: rerun as attempt 2

    with pytest.raises(TaskCancelledError):
        link(0.9, "late")
    board.finish((task_id, 1))

    assert "progress" not in service.retrieve(task_id)


# -- the channel from other processes -------------------------------------------------------


def _board():
    from asynctask.service.progress import ProgressBoard
    from asynctask.service.recording import Recorder
    from tests.support import FakeClock

    return ProgressBoard(Recorder(InMemoryTaskRepository(), FakeClock()))


class _Item:
    def __init__(self, task_id="t", attempt=1):
        self.task_id, self.attempt = task_id, attempt
        self.stopped = None
        self.timed_out = self.superseded = False


def test_a_peer_with_a_wrong_secret_or_that_says_nothing_does_not_block_the_others():
    import pickle
    import socket

    board = _board()
    item = _Item()
    remote = pickle.loads(pickle.dumps(board.link(item)))
    try:
        (host, port), _ = remote.where
        wrong = socket.create_connection((host, port))
        wrong.sendall(b"not-the-secret\n")
        silent = socket.create_connection((host, port))  # says nothing at all
        item.stopped = "cancelled by request"
        started = time.monotonic()

        with pytest.raises(TaskCancelledError, match="cancelled by request"):
            remote(0.5, "half")  # answered at once, whatever the other two peers do

        assert time.monotonic() - started < 1
        wrong.close()
        silent.close()
    finally:
        board.close()


def test_a_closed_board_stops_listening_and_a_link_pickled_after_it_reports_nothing():
    import pickle
    import socket

    before = _listeners()  # (another test's board may still be closing: compared by identity)
    board = _board()
    where = pickle.loads(pickle.dumps(board.link(_Item()))).where
    [listener] = _listeners() - before

    board.close()

    listener.join(2)
    assert not listener.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(where[0], timeout=1)
    late = pickle.loads(pickle.dumps(board.link(_Item("u"))))
    assert late.where is None
    late(0.5)  # a no-op: nobody listens any more
    assert not _listeners() - before


def _listeners() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == "asynctask-progress-in"}


class SlowProgressStore(InMemoryTaskRepository):
    """Writing the "done" progress takes 100 ms: that write is still under way at the outcome."""

    def replace(self, task, expected_version):
        if (task.extra.get("progress") or {}).get("message") == "done" and task.status.value == "running":
            time.sleep(0.1)
        return super().replace(task, expected_version)


class Quick(AsyncTask):
    def main(self, progress=None, logger=None):
        progress(0.1, "started")
        time.sleep(0.08)  # past WRITE_EVERY: the writer thread takes the next report itself
        progress(1.0, "done")
        time.sleep(0.02)  # ends while the writer's slow write of "done" is under way
        return "ok"


def test_the_last_progress_lands_before_the_outcome_even_when_a_write_is_under_way(tmp_path, monkeypatch):
    import asynctask.service.progress as progress_module

    monkeypatch.setattr(progress_module, "WRITE_EVERY", 0.05)
    pool = ThreadPoolExecutor(1)
    service = Quick(logger_dir=str(tmp_path), repository=SlowProgressStore(), executor=pool)
    try:
        task_id = service.run()
        assert service.wait(5)
        detail = service.retrieve(task_id)
    finally:
        service.shutdown()
        pool.shutdown()

    assert detail["status"] == "success"
    assert (detail["progress"]["fraction"], detail["progress"]["message"]) == (1.0, "done")


def test_a_short_tasks_last_progress_goes_with_its_outcome_in_one_write(make_service, executor):
    repository = Counting()
    service = make_service(Steps, repository=repository)
    task_id = service.run(steps=3)
    executor.run_all()
    assert service.wait(5)

    assert repository.writes[task_id] == 1  # the outcome, carrying the last progress
    assert service.retrieve(task_id)["progress"]["message"] == "step 3"


class OwnCallback(Steps):
    def callback(self, future, task_id):
        self.update_task(task_id, {"status": "success", "result": future.result()})


def test_with_a_users_own_callback_the_last_progress_is_written_before_it(make_service, executor):
    service = make_service(OwnCallback)
    task_id = service.run(steps=2)
    executor.run_all()
    assert service.wait(5)

    detail = service.retrieve(task_id)
    assert detail["status"] == "success" and detail["progress"]["message"] == "step 2"


def test_a_start_is_told_only_for_an_attempt_still_in_flight_and_not_stopped():
    board = _board()
    told = []
    board.on_start = told.append
    running, stopped, ended = _Item("run"), _Item("stop"), _Item("end")
    for item in (running, stopped, ended):
        board.start_check(item)
    stopped.stopped = "cancelled by request"
    board.finish(("end", 1))
    try:
        answers = [board.may_start((item.task_id, 1)) for item in (running, stopped, ended)]
    finally:
        board.close()

    assert answers == [True, False, False]
    assert told == [running]  # a cancelled or ended attempt is never counted as started
