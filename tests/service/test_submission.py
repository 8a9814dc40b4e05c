"""Submitting, deduplicating and rerunning tasks."""

import pytest

from asynctask import InvalidParamsError, TaskNotFoundError
from tests.service.apps import Counter
from tests.support import ManualExecutor, race


def test_a_submitted_task_is_running_until_the_executor_runs_it(service, executor, clock):
    task_id = service.run(name="a")
    assert task_id == "task-a"
    detail = service.retrieve(task_id)
    assert (detail["status"], detail["attempt"], detail["start_time"]) == ("running", 1, None)
    executor.run_all()
    detail = service.retrieve(task_id)
    assert detail["status"] == "success" and detail["result"] == {"name": "a", "value": None}
    assert detail["start_time"] == detail["end_time"] == clock.now
    assert detail["error"] is None


def test_identical_submissions_run_main_once(service, executor):
    assert service.run(name="a") == service.run(name="a") == "task-a"
    executor.run_all()
    service.run(name="a")
    assert executor.run_all() == 0
    assert len(service.calls) == 1


def test_sixteen_threads_submitting_one_task_run_main_once(make_service, executor, contended_repository):
    service = make_service(repository=contended_repository)
    assert race(16, lambda _: service.run(name="same")) == ["task-same"] * 16
    assert executor.run_all() == 1
    assert len(service.calls) == 1


def test_two_services_sharing_a_store_run_main_once(make_service, contended_repository):
    executors = [ManualExecutor(), ManualExecutor()]
    services = [make_service(executor=e, repository=contended_repository) for e in executors]
    race(8, lambda index: services[index % 2].run(name="shared"))
    assert sum(e.run_all() for e in executors) == 1
    assert sum(len(s.calls) for s in services) == 1


def test_a_failure_stores_the_traceback_ending_in_the_exception(service, executor):
    task_id = service.run(name="x", fail=True)
    executor.run_all()
    detail = service.retrieve(task_id)
    assert detail["status"] == "failed" and detail["result"] is None
    assert detail["error"].startswith("Traceback (most recent call last):")
    assert detail["error"].splitlines()[-1] == "ValueError: x failed on purpose"


def test_a_failed_task_is_rerun_clean_on_resubmission(service, executor, repository):
    task_id = service.run(name="x", fail=True)
    executor.run_all()
    task_id = service.run(task_id="task-x", name="x", value=5)
    detail = service.retrieve(task_id)
    assert (detail["status"], detail["attempt"], detail["error"], detail["result"]) == (
        "running",
        2,
        None,
        None,
    )
    executor.run_all()
    detail = service.retrieve(task_id)
    assert (detail["status"], detail["result"], detail["error"]) == ("success", 5, None)
    assert repository.get(task_id).params == {"name": "x", "value": 5}


def test_a_running_task_is_kept_until_task_timeout_then_rerun(make_service, executor, clock):
    service = make_service(task_timeout=60)
    service.run(name="slow")
    clock.advance(seconds=59)
    service.run(name="slow")
    assert len(executor.pending) == 1
    clock.advance(seconds=1)
    service.run(name="slow")
    assert len(executor.pending) == 2
    assert service.retrieve("task-slow")["attempt"] == 2


def test_a_success_older_than_rerun_time_limit_is_rerun(make_service, executor, clock):
    service = make_service(rerun_time_limit=3600)
    service.run(name="a")
    executor.run_all()
    clock.advance(seconds=3600)
    service.run(name="a")
    assert executor.run_all() == 0
    clock.advance(seconds=1)
    service.run(name="a")
    assert executor.run_all() == 1
    assert service.retrieve("task-a")["attempt"] == 2 and len(service.calls) == 2


def test_rerun_time_limit_does_not_reopen_a_running_task(make_service, executor, clock):
    service = make_service(rerun_time_limit=1, task_timeout=3600, lease=None)
    service.run(name="a")
    clock.advance(seconds=600)
    service.run(name="a")
    assert len(executor.pending) == 1


def test_run_with_a_stored_task_id_reruns_it_with_its_stored_params(service, executor):
    service.run(name="p", fail=True)
    executor.run_all()
    assert service.run(task_id="task-p") == "task-p"
    executor.run_all()
    assert service.calls == [{"name": "p"}, {"name": "p"}]
    assert service.retrieve("task-p")["error"].endswith("ValueError: p failed on purpose")


def test_run_with_an_unknown_task_id_is_a_clear_error(service, executor):
    with pytest.raises(TaskNotFoundError, match="nope"):
        service.run(task_id="nope")
    assert not executor.pending


@pytest.mark.parametrize(
    ("params", "problems"),
    [
        ({}, {("name", "missing")}),
        ({"name": "a", "colour": 1}, {("colour", "unexpected")}),
        ({"name": "a", "logger": "x"}, {("logger", "reserved")}),
    ],
)
def test_params_main_does_not_accept_are_refused_before_anything_is_stored(
    service, executor, repository, params, problems
):
    with pytest.raises(InvalidParamsError) as caught:
        service.run(**params)
    assert {(d["param"], d["problem"]) for d in caught.value.details} == problems
    assert not executor.pending and repository.get("task-a") is None


def test_get_task_id_defaults_to_a_new_uuid_each_time(make_service, executor):
    class Plain(Counter):
        get_task_id = Counter.__mro__[1].get_task_id

    service = make_service(cls=Plain)
    first, second = service.run(name="a"), service.run(name="a")
    assert first != second and len(first) == 32
    assert executor.run_all() == 2
