"""Listing tasks, reading their logs, and retention, through ``AsyncTask`` on every store."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

from asynctask import AsyncTask, TaskNotFoundError
from asynctask.core import InvalidArgumentError
from asynctask.service.logs import log_file_name
from asynctask.service.runtime import runtime_of
from tests.support import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A clock ahead of the wall clock: MongoDB's TTL index (mongomock's too) expires by the wall clock."""
    return FakeClock(datetime(2100, 1, 1, 12, tzinfo=timezone.utc))


def _submit(service, executor, clock, names, fail=()):
    """Submit and run one task per name, a second apart; those in ``fail`` fail."""
    for name in names:
        service.run(name=name, fail=name in fail)
        clock.advance(seconds=1)
    executor.run_all()
    assert service.wait(5)


def _ids(page) -> list[str]:
    return [detail["task_id"] for detail in page["tasks"]]


def _log_of(service, task_id) -> str:
    return os.path.join(service.logger_dir, log_file_name(task_id))


# -- list_tasks -----------------------------------------------------------------


def test_list_tasks_pages_newest_first_with_the_details_retrieve_answers(service, executor, clock):
    _submit(service, executor, clock, ["a", "b", "c"], fail={"b"})

    first = service.list_tasks(limit=2)
    second = service.list_tasks(limit=2, cursor=first["next_cursor"])

    assert _ids(first) == ["task-c", "task-b"]
    assert first["tasks"][0] == service.retrieve("task-c")
    assert isinstance(first["next_cursor"], str)
    assert _ids(second) == ["task-a"]
    assert second["next_cursor"] is None


def test_list_tasks_filters_by_status_and_by_create_time(service, executor, clock):
    start = clock()
    _submit(service, executor, clock, ["a", "b", "c", "d"], fail={"b", "d"})

    assert _ids(service.list_tasks("failed")) == ["task-d", "task-b"]
    assert _ids(service.list_tasks(status="success")) == ["task-c", "task-a"]
    assert _ids(
        service.list_tasks(since=start + timedelta(seconds=1), until=start + timedelta(seconds=3))
    ) == [
        "task-c",
        "task-b",
    ]
    iso = (start + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _ids(service.list_tasks(since=iso)) == ["task-d", "task-c"]
    same_time_in_paris = (start + timedelta(hours=1, seconds=2)).strftime("%Y-%m-%dT%H:%M:%S+01:00")
    assert _ids(service.list_tasks(until=same_time_in_paris)) == ["task-b", "task-a"]


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"status": "done"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "20"}, "limit"),
        ({"limit": True}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "WzEsMl0"}, "cursor"),  # valid base64 of [1,2]: not a position
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-12-01T08:00:00"}, "since"),  # no offset: which zone?
        ({"since": "2026-12-01"}, "since"),
        ({"status": ""}, "status"),
        ({"cursor": ""}, "cursor"),
        ({"until": 5}, "until"),
    ],
)
def test_a_bad_listing_argument_is_a_value_error_naming_it(service, arguments, argument):
    with pytest.raises(ValueError, match=argument) as caught:
        service.list_tasks(**arguments)

    assert isinstance(caught.value, InvalidArgumentError)
    assert caught.value.argument == argument


def test_a_naive_datetime_is_refused_as_ambiguous(service, clock):
    with pytest.raises(InvalidArgumentError, match="since"):
        service.list_tasks(since=clock().replace(tzinfo=None))


def test_a_running_task_past_its_timeout_lists_as_failed_as_retrieve_says(make_service, executor, clock):
    service = make_service(task_timeout=10)
    service.run(name="slow")
    clock.advance(seconds=11)

    (detail,) = service.list_tasks()["tasks"]

    assert detail["status"] == "failed"
    assert "TimeoutError" in detail["error"]


class Decorated(AsyncTask):
    def main(self, logger=None):
        return 1

    def retrieve(self, task_id):
        detail = super().retrieve(task_id)
        return None if detail is None else {**detail, "decorated": True}


def test_a_users_own_retrieve_makes_the_details_of_a_listing_too(make_service, executor):
    service = make_service(Decorated)
    service.run()
    executor.run_all()

    (detail,) = service.list_tasks()["tasks"]

    assert detail["decorated"] is True


# -- read_log ---------------------------------------------------------------------


def test_read_log_answers_the_log_in_pieces_that_join_up(service, executor, clock):
    _submit(service, executor, clock, ["a"])
    whole = open(_log_of(service, "task-a"), encoding="utf-8").read()
    assert "running a" in whole

    pieces, offset = [], 0
    while True:
        piece = service.read_log("task-a", offset=offset, limit=16)
        if not piece["text"]:
            break
        pieces.append(piece["text"])
        offset = piece["next_offset"]

    assert "".join(pieces) == whole
    assert offset == len(whole.encode("utf-8"))
    assert service.read_log("task-a") == {"task_id": "task-a", "text": whole, "next_offset": offset}


def test_read_log_never_splits_a_character(service, executor, clock):
    _submit(service, executor, clock, ["é€😀"])
    data = open(_log_of(service, "task-é€😀"), "rb").read()
    start = data.index("é€😀".encode())

    piece = service.read_log("task-é€😀", offset=start, limit=5)

    assert piece["text"] == "é€"  # 2 + 3 bytes; the 4-byte one waits for the next read
    assert piece["next_offset"] == start + 5
    assert service.read_log("task-é€😀", offset=start + 1, limit=4)["text"] == "€"  # inside é: skipped


def test_read_log_of_an_unknown_task_raises_and_of_a_task_without_log_is_empty(service, executor):
    with pytest.raises(TaskNotFoundError):
        service.read_log("nobody")
    service.run(name="queued")  # not run yet: no log file

    assert service.read_log("task-queued") == {"task_id": "task-queued", "text": "", "next_offset": 0}


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"offset": -1}, "offset"),
        ({"limit": 3}, "limit"),
        ({"limit": 2**21}, "limit"),
        ({"offset": "0"}, "offset"),
    ],
)
def test_a_bad_log_argument_is_a_value_error_naming_it(service, executor, arguments, argument):
    service.run(name="a")
    with pytest.raises(InvalidArgumentError, match=argument):
        service.read_log("task-a", **arguments)


# -- purge and keep_finished --------------------------------------------------------


def test_purge_deletes_finished_tasks_ended_long_enough_ago_and_their_logs(service, executor, clock):
    _submit(service, executor, clock, ["old", "failed-old"], fail={"failed-old"})
    clock.advance(hours=2)
    _submit(service, executor, clock, ["recent"])
    service.run(name="running")  # never run: stays running however old
    clock.advance(hours=2)

    assert service.purge(older_than=timedelta(hours=3), dry_run=True) == 2
    assert service.purge(older_than=3 * 3600) == 2

    assert service.retrieve("task-old") is None and service.retrieve("task-failed-old") is None
    assert not os.path.exists(_log_of(service, "task-old"))
    assert service.retrieve("task-recent")["status"] == "success"
    assert os.path.exists(_log_of(service, "task-recent"))
    assert service.repository.get("task-running").status.value == "running"
    assert service.purge(older_than=0) == 1  # everything finished, never the running one
    assert service.repository.get("task-running") is not None


def test_purge_of_one_status_keeps_the_other(service, executor, clock):
    _submit(service, executor, clock, ["ok", "bad"], fail={"bad"})
    clock.advance(hours=1)

    assert service.purge(60, status="failed") == 1
    assert service.retrieve("task-bad") is None and service.retrieve("task-ok") is not None


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"older_than": -1}, "older_than"),
        ({"older_than": "1h"}, "older_than"),
        ({"status": "running"}, "status"),
    ],
)
def test_a_bad_purge_argument_is_a_value_error_naming_it(service, arguments, argument):
    arguments.setdefault("older_than", 60)
    with pytest.raises(InvalidArgumentError, match=argument):
        service.purge(**arguments)


def test_keep_finished_purges_in_the_background_loop_and_a_rerun_is_not_deleted(
    make_service, executor, clock
):
    service = make_service(keep_finished=timedelta(hours=1))
    supervisor = runtime_of(service).supervisor
    _submit(service, executor, clock, ["kept", "rerun"], fail={"rerun"})
    clock.advance(minutes=59)
    supervisor.tick()
    assert service.retrieve("task-kept") is not None  # not an hour yet

    service.run(name="rerun")  # failed a while ago: rerun, running now with no end
    clock.advance(minutes=2)
    supervisor.tick()

    assert service.retrieve("task-kept") is None
    assert not os.path.exists(_log_of(service, "task-kept"))
    assert service.retrieve("task-rerun")["status"] == "running"
    assert os.path.exists(_log_of(service, "task-rerun"))  # the log of its first attempt stays with it
    executor.run_all()
    assert service.wait(5)
    clock.advance(minutes=61)
    supervisor.tick()
    assert service.retrieve("task-rerun") is None


def test_keep_finished_runs_the_loop_with_nothing_submitted(make_service, executor):
    service = make_service(keep_finished=3600)

    assert runtime_of(service).supervisor._thread is not None


def test_a_background_purge_works_in_batches_within_a_round(make_service, executor, clock, monkeypatch):
    import asynctask.service.retention as retention

    service = make_service(keep_finished=60)
    runtime_of(service).retention.batch = 3
    _submit(service, executor, clock, [f"n{index}" for index in range(10)])
    clock.advance(minutes=5)
    monkeypatch.setattr(retention, "PURGE_ROUND_SECONDS", 0.0)  # one batch per round

    runtime_of(service).supervisor.tick()
    assert len(service.list_tasks()["tasks"]) == 7
    for _ in range(3):
        runtime_of(service).supervisor.tick()
    assert service.list_tasks()["tasks"] == []


def test_keep_finished_must_be_positive(make_service):
    with pytest.raises(ValueError, match="keep_finished"):
        make_service(keep_finished=0)
