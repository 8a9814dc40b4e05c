"""The TaskRepository contract for listings, deletes and retention: every store, the same pages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from asynctask.core import Page, Position, TaskStatus
from tests.contract.conftest import T0

FINISHED = (TaskStatus.SUCCESS, TaskStatus.FAILED)


def _task(make_task, index: int, status: TaskStatus = TaskStatus.SUCCESS, **overrides):
    """Task ``t{index:03}``, created ``index`` seconds after T0, ended a minute later if finished."""
    created = T0 + timedelta(seconds=index)
    fields = {
        "task_id": f"t{index:03}",
        "status": status,
        "create_time": created,
        "submit_time": created,
        "update_time": created + timedelta(minutes=1),
        "start_time": created,
        "end_time": created + timedelta(minutes=1) if status.finished else None,
        "error": "Traceback\nValueError: boom" if status is TaskStatus.FAILED else None,
        "result": None if status is not TaskStatus.SUCCESS else index,
    }
    fields.update(overrides)
    return make_task(**fields)


def _fill(repository, make_task, statuses) -> list:
    tasks = [_task(make_task, index, status) for index, status in enumerate(statuses)]
    for task in tasks:
        assert repository.insert(task)
    return tasks


def _ids(page: Page) -> list[str]:
    return [task.task_id for task in page.tasks]


def _all_pages(repository, limit: int, **filters) -> list[list[str]]:
    pages, after = [], None
    while True:
        page = repository.list(limit=limit, after=after, **filters)
        pages.append(_ids(page))
        if page.after is None:
            return pages
        after = page.after


def test_an_empty_store_lists_one_empty_last_page(repository):
    page = repository.list(limit=10)

    assert page == Page([], None)
    assert repository.list(TaskStatus.FAILED, limit=10) == Page([], None)


def test_tasks_are_listed_newest_first_with_every_field(repository, make_task):
    tasks = _fill(repository, make_task, [TaskStatus.SUCCESS, TaskStatus.FAILED, TaskStatus.RUNNING])

    page = repository.list(limit=10)

    assert page.tasks == tasks[::-1]
    assert page.after is None


def test_ties_in_create_time_are_ordered_by_task_id_descending(repository, make_task):
    for task_id in ("b", "c", "a"):
        repository.insert(_task(make_task, 0, task_id=task_id))

    assert _ids(repository.list(limit=10)) == ["c", "b", "a"]
    assert _all_pages(repository, 1) == [["c"], ["b"], ["a"]]


def test_a_status_lists_only_its_tasks(repository, make_task):
    statuses = [TaskStatus.FAILED, TaskStatus.SUCCESS, TaskStatus.RUNNING, TaskStatus.FAILED]
    _fill(repository, make_task, statuses)

    assert _ids(repository.list(TaskStatus.FAILED, limit=10)) == ["t003", "t000"]
    assert _ids(repository.list(TaskStatus.RUNNING, limit=10)) == ["t002"]
    assert _ids(repository.list("success", limit=10)) == ["t001"]


def test_pages_of_an_exact_multiple_of_the_limit_end_without_an_empty_page(repository, make_task):
    _fill(repository, make_task, [TaskStatus.SUCCESS] * 6)

    assert _all_pages(repository, 3) == [["t005", "t004", "t003"], ["t002", "t001", "t000"]]


def test_the_last_short_page_says_it_is_the_last(repository, make_task):
    _fill(repository, make_task, [TaskStatus.SUCCESS] * 5)

    first = repository.list(limit=3)
    second = repository.list(limit=3, after=first.after)

    assert first.after == Position(T0 + timedelta(seconds=2), "t002")
    assert _ids(second) == ["t001", "t000"]
    assert second.after is None


def test_paging_a_status_follows_its_own_index(repository, make_task):
    _fill(repository, make_task, [TaskStatus.FAILED, TaskStatus.SUCCESS] * 5)

    pages = _all_pages(repository, 2, status=TaskStatus.FAILED)

    assert pages == [["t008", "t006"], ["t004", "t002"], ["t000"]]


def test_tasks_inserted_while_paging_cause_no_duplicate_and_no_skip(repository, make_task):
    _fill(repository, make_task, [TaskStatus.SUCCESS] * 10)
    seen: list[str] = []
    page = repository.list(limit=3)
    newer = 100
    while True:
        seen += _ids(page)
        # Newer tasks arrive between pages, as on a live service.
        repository.insert(_task(make_task, newer))
        newer += 1
        if page.after is None:
            break
        page = repository.list(limit=3, after=page.after)

    assert seen == [f"t{index:03}" for index in range(9, -1, -1)]


def test_tasks_changing_status_while_paging_all_are_listed_once(repository, make_task, now):
    tasks = _fill(repository, make_task, [TaskStatus.RUNNING] * 6)
    first = repository.list(limit=2)
    for task in tasks:
        assert repository.replace(task.succeeded(1, now), task.version)

    rest: list[str] = []
    after = first.after
    while after is not None:
        page = repository.list(limit=2, after=after)
        rest += _ids(page)
        after = page.after

    assert _ids(first) + rest == ["t005", "t004", "t003", "t002", "t001", "t000"]


def test_since_and_until_keep_create_times_in_a_half_open_range(repository, make_task):
    _fill(repository, make_task, [TaskStatus.SUCCESS] * 6)

    page = repository.list(limit=10, since=T0 + timedelta(seconds=2), until=T0 + timedelta(seconds=5))

    assert _ids(page) == ["t004", "t003", "t002"]
    assert _all_pages(repository, 2, since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=4)) == [
        ["t003", "t002"],
        ["t001"],
    ]
    assert _ids(repository.list(limit=10, since=T0 + timedelta(seconds=9))) == []


def test_a_page_holds_copies(repository, make_task):
    _fill(repository, make_task, [TaskStatus.SUCCESS])
    repository.list(limit=1).tasks[0].params["n"] = "changed"

    assert repository.list(limit=1).tasks[0].params["n"] == 3


# -- delete ---------------------------------------------------------------------


def test_delete_answers_how_many_it_deleted(repository, make_task):
    _fill(repository, make_task, [TaskStatus.SUCCESS, TaskStatus.FAILED, TaskStatus.RUNNING])

    assert repository.delete(["t000", "t002", "t002", "missing"]) == 2
    assert repository.get("t000") is None and repository.get("t002") is None
    assert repository.get("t001") is not None
    assert _ids(repository.list(limit=10)) == ["t001"]
    assert _ids(repository.list(TaskStatus.RUNNING, limit=10)) == []
    assert repository.delete([]) == 0


def test_a_deleted_id_can_be_inserted_again(repository, make_task):
    task = _fill(repository, make_task, [TaskStatus.SUCCESS])[0]
    repository.delete([task.task_id])

    assert repository.insert(task)
    assert repository.get(task.task_id) == task


def test_delete_with_ended_before_keeps_tasks_rerun_or_ended_later(repository, make_task, now):
    old, rerun, later = _fill(repository, make_task, [TaskStatus.SUCCESS] * 3)
    horizon = old.end_time + timedelta(seconds=2)  # t000 and t001 ended before it, t002 at it
    repository.replace(rerun.resubmitted(now), rerun.version)  # rerun since it was chosen

    assert repository.delete([old.task_id, rerun.task_id, later.task_id], ended_before=horizon) == 1
    assert repository.get(old.task_id) is None
    assert repository.get(rerun.task_id).status is TaskStatus.RUNNING
    assert repository.get(later.task_id) is not None


# -- retention ------------------------------------------------------------------


def test_finished_before_answers_finished_tasks_ended_before_the_time(repository, make_task):
    statuses = [TaskStatus.SUCCESS, TaskStatus.FAILED, TaskStatus.RUNNING, TaskStatus.SUCCESS]
    tasks = _fill(repository, make_task, statuses)
    horizon = tasks[3].end_time  # t003 ended at it, not before

    assert sorted(repository.finished_before(horizon)) == ["t000", "t001"]
    assert repository.finished_before(horizon, TaskStatus.FAILED) == ["t001"]
    assert repository.finished_before(horizon, "success") == ["t000"]
    assert repository.finished_before(horizon, TaskStatus.RUNNING) == []
    assert repository.finished_before(T0) == []
    assert repository.count_finished_before(horizon) == 2
    assert repository.count_finished_before(horizon, TaskStatus.FAILED) == 1
    assert repository.count_finished_before(horizon, TaskStatus.RUNNING) == 0


def test_finished_before_answers_at_most_limit_and_all_of_them_in_batches(repository, make_task):
    _fill(repository, make_task, [TaskStatus.SUCCESS, TaskStatus.FAILED] * 5)
    horizon = T0 + timedelta(days=1)

    assert len(repository.finished_before(horizon, limit=3)) == 3
    deleted = 0
    while batch := repository.finished_before(horizon, limit=3):
        deleted += repository.delete(batch, ended_before=horizon)
    assert deleted == 10
    assert repository.count_finished_before(horizon) == 0


def test_a_running_task_with_an_end_time_is_never_a_candidate(repository, make_task):
    # update_task may leave a running task with fields of an old outcome: only the status counts.
    repository.insert(_task(make_task, 0, TaskStatus.RUNNING, end_time=T0))

    assert repository.finished_before(T0 + timedelta(days=1)) == []
    assert repository.delete(["t000"], ended_before=T0 + timedelta(days=1)) == 0


def test_an_update_between_success_and_failed_moves_the_task_between_listings(repository, make_task, now):
    task = _fill(repository, make_task, [TaskStatus.SUCCESS])[0]
    repository.replace(task.updated({"status": "failed", "error": "late"}, now), task.version)

    assert _ids(repository.list(TaskStatus.FAILED, limit=10)) == ["t000"]
    assert _ids(repository.list(TaskStatus.SUCCESS, limit=10)) == []
    assert repository.finished_before(now + timedelta(days=1), TaskStatus.FAILED) == ["t000"]
    assert repository.finished_before(now + timedelta(days=1), TaskStatus.SUCCESS) == []


@pytest.mark.parametrize("limit", [1, 2, 7])
def test_every_limit_pages_through_everything_once(repository, make_task, limit):
    statuses = [TaskStatus.SUCCESS, TaskStatus.FAILED, TaskStatus.RUNNING] * 4
    _fill(repository, make_task, statuses)

    pages = _all_pages(repository, limit)

    listed = [task_id for page in pages for task_id in page]
    assert listed == [f"t{index:03}" for index in range(11, -1, -1)]
    assert all(1 <= len(page) <= limit for page in pages)


def test_counts_name_every_status_and_zero_in_an_empty_store(repository):
    assert repository.counts() == {TaskStatus.RUNNING: 0, TaskStatus.SUCCESS: 0, TaskStatus.FAILED: 0}


def test_counts_follow_inserts_status_changes_and_deletes(repository, make_task, now):
    tasks = _fill(repository, make_task, [TaskStatus.RUNNING] * 3 + [TaskStatus.SUCCESS, TaskStatus.FAILED])
    assert repository.counts() == {TaskStatus.RUNNING: 3, TaskStatus.SUCCESS: 1, TaskStatus.FAILED: 1}

    assert repository.replace(tasks[0].succeeded(1, now), tasks[0].version)
    assert repository.replace(tasks[1].failed("Traceback\nValueError: x", now), tasks[1].version)
    repository.delete([tasks[4].task_id])

    assert repository.counts() == {TaskStatus.RUNNING: 1, TaskStatus.SUCCESS: 2, TaskStatus.FAILED: 1}
