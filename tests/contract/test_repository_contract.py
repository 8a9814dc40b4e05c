"""The TaskRepository contract: reads, conditional inserts and compare-and-set replaces."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from asynctask.core import Task, TaskStatus

TIME_FIELDS = ("create_time", "update_time", "submit_time", "start_time", "end_time")


def test_getting_a_missing_id_gives_none(repository):
    assert repository.get("no-such-task") is None


def test_a_finished_task_comes_back_with_every_field_as_stored(repository, make_task):
    task = make_task(status=TaskStatus.FAILED, error="Traceback (most recent call last):\nValueError: boom")

    assert repository.insert(task) is True
    got = repository.get(task.task_id)

    assert got == task
    assert got.status is TaskStatus.FAILED
    assert all(value is not None for value in attrs.astuple(got, recurse=False))


def test_a_fresh_submission_comes_back_with_its_empty_fields_still_empty(repository, now):
    task = Task.submitted("fresh", {}, now)

    assert repository.insert(task) is True

    assert repository.get("fresh") == task


def test_times_come_back_timezone_aware_utc_to_the_millisecond(repository, make_task):
    task = make_task()
    repository.insert(task)
    got = repository.get(task.task_id)

    for name in TIME_FIELDS:
        value = getattr(got, name)
        assert value.utcoffset() == timedelta(0), name
        assert value == getattr(task, name), name


def test_inserting_a_taken_id_is_refused_and_keeps_the_stored_task(repository, make_task, now):
    first = make_task()
    repository.insert(first)

    second = make_task(status=TaskStatus.RUNNING, params={"other": True}, result=None, version=1)

    assert repository.insert(second) is False
    assert repository.get(first.task_id) == first


def test_replacing_at_the_version_read_stores_the_new_task(repository, make_task, now):
    stored = make_task()
    repository.insert(stored)
    changed = stored.updated({"result": {"total": 43}, "note": "edited"}, now)

    assert repository.replace(changed, expected_version=stored.version) is True

    assert repository.get(stored.task_id) == changed


@pytest.mark.parametrize("offset", [-1, +1], ids=["an older version", "a newer version"])
def test_replacing_at_any_other_version_is_refused_and_keeps_the_stored_task(
    repository, make_task, now, offset
):
    stored = make_task()
    repository.insert(stored)
    changed = stored.updated({"note": "edited"}, now)

    assert repository.replace(changed, expected_version=stored.version + offset) is False

    assert repository.get(stored.task_id) == stored


def test_a_version_that_moved_on_cannot_be_replaced_again(repository, make_task, now):
    stored = make_task()
    repository.insert(stored)
    winner = stored.updated({"writer": "winner"}, now)
    loser = stored.updated({"writer": "loser"}, now)

    assert repository.replace(winner, expected_version=stored.version) is True
    assert repository.replace(loser, expected_version=stored.version) is False

    assert repository.get(stored.task_id) == winner


def test_replacing_a_missing_task_is_refused_and_inserts_nothing(repository, make_task):
    task = make_task()

    assert repository.replace(task, expected_version=task.version) is False
    assert repository.replace(task, expected_version=task.version - 1) is False

    assert repository.get(task.task_id) is None


def test_tasks_under_different_ids_do_not_touch_each_other(repository, make_task, now):
    first, second = make_task(task_id="first"), make_task(task_id="second")
    assert repository.insert(first) and repository.insert(second)

    changed = first.updated({"note": "only the first"}, now)
    assert repository.replace(changed, expected_version=first.version) is True

    assert repository.get("first") == changed
    assert repository.get("second") == second
