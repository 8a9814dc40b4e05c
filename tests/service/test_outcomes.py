"""Recording results: fencing, unencodable values, callbacks, user updates."""

import threading

import pytest

from asynctask import TaskStatus
from asynctask.core import IllegalTransitionError, InvalidTaskIdError
from tests.service.apps import Counter


class Gated(Counter):
    """Its first run blocks until released; later runs return at once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.entered = threading.Event()
        self.release = threading.Event()

    def main(self, name, fail=False, value=None, logger=None):
        first = not self.calls
        super().main(name, logger=logger)
        if first:
            self.entered.set()
            assert self.release.wait(5)
            return "late result of attempt 1"
        return f"result of attempt {len(self.calls)}"

    def start_first_run(self, executor) -> threading.Thread:
        """Run the first queued attempt in a thread, and return once it is inside main."""
        worker = threading.Thread(target=executor.run_next)
        worker.start()
        assert self.entered.wait(5)
        return worker


def test_a_late_result_of_a_superseded_attempt_is_dropped(make_service, executor, clock, caplog):
    service = make_service(cls=Gated, task_timeout=60)
    service.run(name="g")
    worker = service.start_first_run(executor)
    clock.advance(seconds=60)
    service.run(name="g")
    executor.run_next()
    assert service.retrieve("task-g")["result"] == "result of attempt 2"
    service.release.set()
    worker.join()
    detail = service.retrieve("task-g")
    assert (detail["status"], detail["attempt"], detail["result"]) == ("success", 2, "result of attempt 2")
    assert "dropped the result of task task-g attempt 1" in caplog.text


def test_an_attempt_superseded_before_it_started_does_not_run(make_service, executor, clock):
    service = make_service(task_timeout=60)
    service.run(name="q")
    clock.advance(seconds=61)
    service.run(name="q")
    executor.run_all()
    assert len(service.calls) == 1
    detail = service.retrieve("task-q")
    assert (detail["status"], detail["attempt"]) == ("success", 2)


@pytest.mark.parametrize("value", [{1, 2}, object()], ids=["set", "object"])
def test_a_result_the_store_cannot_hold_fails_the_task_with_a_clear_error(service, executor, value):
    service.run(name="u", value=None)
    service.main = lambda logger=None, **params: value
    executor.run_all()
    detail = service.retrieve("task-u")
    assert detail["status"] == "failed"
    last_line = detail["error"].splitlines()[-1]
    assert last_line.startswith("asynctask.core.errors.UnencodableValueError: ")
    assert type(value).__name__ in last_line


def test_an_overridden_callback_gets_the_future_and_the_task_id(make_service, executor):
    seen = []

    class Custom(Counter):
        def callback(self, future, task_id):
            seen.append((task_id, future.result()))
            self.update_task(task_id, {"status": "success", "result": "custom"})

    service = make_service(cls=Custom)
    service.run(name="c", value=7)
    executor.run_all()
    assert seen == [("task-c", 7)]
    assert service.retrieve("task-c")["result"] == "custom"


def test_update_task_sets_extra_fields_that_retrieve_shows(service, repository):
    service.run(name="e")
    service.update_task("task-e", {"progress": 0.5})
    assert service.retrieve("task-e")["progress"] == 0.5
    assert repository.get("task-e").status is TaskStatus.RUNNING
    with pytest.raises(IllegalTransitionError):
        service.update_task("task-e", {"attempt": 3})


def test_a_cancelled_future_fails_the_task(service, executor):
    service.run(name="z")
    future, *_ = executor.pending[0]
    future.cancel()
    executor.run_all()
    detail = service.retrieve("task-z")
    assert detail["status"] == "failed" and "CancelledError" in detail["error"]


def test_an_executor_that_refuses_work_fails_the_task_and_says_why(service, executor):
    def refuse(*args, **kwargs):
        raise RuntimeError("cannot schedule new futures after shutdown")

    executor.submit = refuse
    with pytest.raises(RuntimeError):
        service.run(name="r")
    detail = service.retrieve("task-r")
    assert detail["status"] == "failed" and detail["error"].endswith("after shutdown")


def test_update_task_in_an_overridden_callback_cannot_touch_a_newer_attempt(make_service, executor, clock):
    class Custom(Gated):
        def callback(self, future, task_id):
            self.update_task(task_id, {"status": "success", "result": future.result()})

    service = make_service(cls=Custom, task_timeout=60)
    service.run(name="c")
    worker = service.start_first_run(executor)
    clock.advance(seconds=60)
    service.run(name="c")  # attempt 2, queued
    service.release.set()
    worker.join()  # attempt 1 ends and its callback tries to write
    detail = service.retrieve("task-c")
    assert (detail["status"], detail["attempt"], detail["result"]) == ("running", 2, None)
    executor.run_all()
    assert service.retrieve("task-c")["result"] == "result of attempt 2"


def test_what_main_does_to_its_arguments_never_reaches_the_stored_params(make_service, executor, repository):
    class Mutates(Counter):
        def main(self, name, fail=False, value=None, logger=None):
            value["items"].append("added by main")
            value["seen"] = {1, 2}  # not even storable
            return "ok"

    service = make_service(cls=Mutates)
    given = {"items": [3, 1, 2]}
    service.run(name="m", value=given)
    given["items"].append("added by the caller after run()")
    executor.run_all()
    detail = service.retrieve("task-m")
    assert (detail["status"], detail["result"]) == ("success", "ok")
    assert repository.get("task-m").params == {"name": "m", "value": {"items": [3, 1, 2]}}


def test_update_task_of_an_id_not_stored_creates_the_record_as_the_original_upsert_did(service, clock):
    service.update_task("imported", {"status": "failed", "params": {"name": "old"}, "note": "from v1"})
    detail = service.retrieve("imported")
    assert (detail["status"], detail["note"], detail["update_time"]) == ("failed", "from v1", clock.now)


def test_a_record_created_by_update_task_as_failed_with_params_can_be_rerun(service, executor):
    service.update_task("task-old", {"status": "failed", "params": {"name": "old"}})
    assert service.run(task_id="task-old") == "task-old"
    executor.run_all()
    detail = service.retrieve("task-old")
    assert (detail["status"], detail["attempt"], detail["result"]) == (
        "success",
        1,
        {"name": "old", "value": None},
    )


def test_update_task_cannot_make_a_finished_task_running_again(service, executor):
    service.run(name="f")
    executor.run_all()
    with pytest.raises(IllegalTransitionError, match="submit it again"):
        service.update_task("task-f", {"status": "running"})
    assert service.retrieve("task-f")["status"] == "success"


def test_a_running_record_created_by_update_task_runs_at_its_first_submission(service, executor, clock):
    service.update_task("task-up", {"progress": 0.0})  # running, but never submitted
    clock.advance(seconds=3600)  # no lease or timeout applies to what nothing ran
    assert service.retrieve("task-up")["status"] == "running"
    service.run(name="up")
    executor.run_all()
    detail = service.retrieve("task-up")
    assert (detail["status"], detail["attempt"], service.calls) == ("success", 1, [{"name": "up"}])


def test_update_task_of_another_task_from_a_callback_is_not_fenced_by_the_ending_attempt(
    make_service, executor
):
    class Parent(Counter):
        def callback(self, future, task_id):
            super().callback(future, task_id)
            if task_id == "task-child":
                self.update_task("task-parent", {"child": "done"})

    service = make_service(cls=Parent)
    service.run(name="parent")
    executor.run_all()
    service.update_task("task-parent", {"status": "failed", "error": "E: x"})
    service.run(name="parent")  # attempt 2 of the parent
    executor.run_all()
    service.run(name="child")
    executor.run_all()
    assert service.retrieve("task-parent")["child"] == "done"


@pytest.mark.parametrize("bad", [{"$ne": None}, 7, ""])
def test_retrieve_and_update_task_refuse_a_task_id_that_is_not_a_non_empty_string(service, bad):
    with pytest.raises(InvalidTaskIdError):
        service.retrieve(bad)
    with pytest.raises(InvalidTaskIdError):
        service.update_task(bad, {"note": "x"})
