"""Heartbeats and the listing of stale running tasks, on every store."""

from __future__ import annotations

from datetime import timedelta

from asynctask.core import TaskStatus
from tests.contract.conftest import T0


def running(make_task, task_id: str, attempt: int = 1, beat_seconds: float = 0):
    return make_task(
        task_id=task_id,
        status=TaskStatus.RUNNING,
        attempt=attempt,
        result=None,
        end_time=None,
        heartbeat_time=T0 + timedelta(seconds=beat_seconds),
    )


def test_touch_moves_the_heartbeat_of_running_attempts_in_one_call(repository, make_task):
    for task_id in ("a", "b", "c"):
        repository.insert(running(make_task, task_id))
    later = T0 + timedelta(minutes=5)
    assert repository.touch([("a", 1), ("b", 1)], later) == []
    assert repository.get("a").heartbeat_time == repository.get("b").heartbeat_time == later
    assert repository.get("c").heartbeat_time == T0


def test_touch_leaves_finished_and_superseded_attempts_and_versions_alone(repository, make_task):
    repository.insert(running(make_task, "old", attempt=3))
    repository.insert(make_task(task_id="done"))
    gone = repository.touch([("old", 2), ("done", 2), ("missing", 1)], T0 + timedelta(minutes=5))
    assert sorted(gone) == [("done", 2), ("missing", 1), ("old", 2)]  # their owners stop them
    assert repository.get("old").heartbeat_time == T0
    assert repository.get("done") == make_task(task_id="done")
    assert repository.get("old").version == make_task().version


def test_touch_with_nothing_to_do_is_harmless(repository):
    assert repository.touch([], T0) == []


def test_touch_answers_only_the_attempts_not_running(repository, make_task, now):
    repository.insert(running(make_task, "alive"))
    cancelled = running(make_task, "cancelled")
    repository.insert(cancelled)
    repository.replace(cancelled.failed("cancelled", now), cancelled.version)

    assert repository.touch([("alive", 1), ("cancelled", 1)], now) == [("cancelled", 1)]
    assert repository.get("alive").heartbeat_time == now


def test_stale_running_lists_only_running_tasks_with_an_old_heartbeat(repository, make_task):
    repository.insert(running(make_task, "stale", beat_seconds=0))
    repository.insert(running(make_task, "fresh", beat_seconds=120))
    repository.insert(make_task(task_id="finished"))
    stale = repository.stale_running(T0 + timedelta(seconds=60))
    assert [task.task_id for task in stale] == ["stale"]
    assert stale[0] == running(make_task, "stale")


def test_stale_running_honours_its_limit(repository, make_task):
    for index in range(5):
        repository.insert(running(make_task, f"t{index}"))
    assert len(repository.stale_running(T0 + timedelta(seconds=1), limit=3)) == 3


def test_a_running_task_that_never_heartbeated_is_stale_by_its_submission_on_every_store(
    repository, make_task
):
    submitted = T0 + timedelta(seconds=30)
    repository.insert(make_task(task_id="new", status=TaskStatus.RUNNING, end_time=None, heartbeat_time=None,
                                submit_time=submitted))  # fmt: skip
    assert repository.stale_running(submitted - timedelta(seconds=1)) == []  # just submitted: alive
    assert [task.task_id for task in repository.stale_running(submitted + timedelta(seconds=1))] == ["new"]
