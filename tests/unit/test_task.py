from datetime import datetime, timedelta, timezone

import pytest

from asynctask.core import IllegalTransitionError, Policy, Task, TaskStatus, to_timedelta
from tests.support import T0


def test_a_submitted_task_is_running_at_attempt_one():
    task = Task.submitted("t", {"a": 1}, T0)
    assert (task.status, task.attempt, task.version) == (TaskStatus.RUNNING, 1, 1)
    assert task.start_time is None and task.create_time == task.submit_time == T0


def test_every_change_bumps_the_version_and_the_update_time():
    task = Task.submitted("t", {}, T0)
    later = T0 + timedelta(seconds=5)
    started = task.started(later)
    assert (started.version, started.update_time, started.start_time) == (2, later, later)


def test_a_start_written_late_keeps_when_it_began_and_heartbeats_now():
    queued = Task.submitted("t", {}, T0)
    began, now = T0 + timedelta(seconds=1), T0 + timedelta(seconds=9, microseconds=123456)
    started = queued.started(now, at=began)
    assert (started.start_time, started.heartbeat_time) == (began, now.replace(microsecond=123000))


@pytest.mark.parametrize("verb", ["succeeded", "failed"])
def test_an_outcome_carries_a_start_not_recorded_yet_and_never_moves_a_recorded_one(verb):
    began, end = T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)
    unstarted = Task.submitted("t", {}, T0)
    ended = getattr(unstarted, verb)("x", end, began)
    assert (ended.start_time, ended.end_time, ended.version) == (began, end, 2)
    recorded = unstarted.started(T0)
    assert getattr(recorded, verb)("x", end, began).start_time == T0
    assert getattr(unstarted, verb)("x", end).start_time is None


@pytest.mark.parametrize("verb", ["succeeded", "failed"])
def test_an_outcome_carries_a_progress_not_recorded_yet_in_the_same_change(verb):
    running = Task.submitted("t", {}, T0).updated({"progress": {"fraction": 0.5}, "note": 1}, T0)
    ended = getattr(running, verb)("x", T0, None, {"fraction": 1.0})
    assert ended.extra == {"progress": {"fraction": 1.0}, "note": 1}
    assert ended.version == running.version + 1  # one change, one version
    assert getattr(running, verb)("x", T0).extra == running.extra


def test_a_retry_starts_without_the_progress_its_failed_attempt_had_not_recorded_yet():
    running = Task.submitted("t", {}, T0, retries=1)
    retry = running.retried(T0, T0 + timedelta(seconds=1), {"fraction": 1.0})
    assert retry.attempt == 2 and retry.extra == {"progress": None}  # cleared, as if it had been recorded
    assert running.retried(T0, T0 + timedelta(seconds=1)).extra == {}


def test_a_resubmission_starts_clean_with_a_new_attempt():
    failed = Task.submitted("t", {"a": 1}, T0).started(T0).failed("ValueError: x", T0)
    again = failed.resubmitted(T0 + timedelta(seconds=1))
    assert again.status is TaskStatus.RUNNING and again.attempt == 2
    assert (again.error, again.result, again.start_time, again.end_time) == (None, None, None, None)
    assert again.create_time == T0 and again.submit_time == T0 + timedelta(seconds=1)
    assert again.params == {"a": 1}


@pytest.mark.parametrize("verb", ["started", "failed", "succeeded"])
def test_a_finished_task_cannot_start_or_finish_again(verb):
    done = Task.submitted("t", {}, T0).succeeded(1, T0)
    args = (T0,) if verb == "started" else ("x", T0)
    with pytest.raises(IllegalTransitionError, match="it is success"):
        getattr(done, verb)(*args)


def test_times_are_stored_as_utc_milliseconds():
    plus_two = timezone(timedelta(hours=2))
    task = Task.submitted("t", {}, datetime(2026, 1, 1, 14, 0, 0, 123456, tzinfo=plus_two))
    assert task.create_time == datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)
    assert task.create_time.tzinfo is timezone.utc


def test_naive_times_and_empty_ids_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        Task.submitted("t", {}, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="non-empty string"):
        Task.submitted("", {}, T0)


def test_user_updates_set_extra_fields_and_may_finish_the_task():
    task = Task.submitted("t", {}, T0).updated({"progress": 0.5}, T0)
    assert task.extra == {"progress": 0.5} and task.status is TaskStatus.RUNNING
    done = task.updated({"status": "success", "result": 3}, T0)
    assert (done.status, done.result, done.end_time) == (TaskStatus.SUCCESS, 3, T0)


def test_user_updates_cannot_touch_managed_fields():
    with pytest.raises(IllegalTransitionError, match="attempt"):
        Task.submitted("t", {}, T0).updated({"attempt": 7}, T0)


@pytest.mark.parametrize("value", [0, -1, "10", None, True, [1], timedelta(0)])
def test_bad_timeouts_are_a_value_error_naming_the_argument(value):
    with pytest.raises(ValueError, match="task_timeout"):
        to_timedelta(value, "task_timeout")


def test_policy_reads_seconds_and_timedeltas():
    policy = Policy(task_timeout=1.5, rerun_time_limit=timedelta(minutes=1))
    assert policy.task_timeout == timedelta(seconds=1.5)
    assert policy.rerun_time_limit == timedelta(minutes=1)
    with pytest.raises(ValueError, match="rerun_time_limit"):
        Policy(rerun_time_limit=-3)


def test_a_default_task_id_is_a_random_uuid4_in_hex():
    import uuid

    from asynctask import AsyncTask

    ids = {AsyncTask.get_task_id(None) for _ in range(1000)}
    assert len(ids) == 1000
    for value in ids:
        parsed = uuid.UUID(hex=value)
        assert parsed.hex == value and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_an_update_never_makes_a_finished_task_running_again():
    done = Task.submitted("t", {}, T0).succeeded(1, T0)
    with pytest.raises(IllegalTransitionError, match="from success to running; submit it again"):
        done.updated({"status": "running"}, T0)


def test_an_update_may_change_how_a_finished_task_ended_and_keeps_its_end():
    later = T0 + timedelta(seconds=5)
    done = Task.submitted("t", {}, T0).succeeded(1, T0)
    failed = done.updated({"status": "failed", "error": "ValueError: checked later"}, later)
    assert (failed.status, failed.end_time, failed.update_time) == (TaskStatus.FAILED, T0, later)


def test_an_update_may_write_params():
    task = Task.submitted("t", {"n": 1}, T0).updated({"params": {"n": 2}}, T0)
    assert task.params == {"n": 2} and task.extra == {}
    with pytest.raises(TypeError, match="params must be a mapping"):
        task.updated({"params": [2]}, T0)


def test_a_task_created_by_an_update_is_running_unless_it_says_otherwise():
    running = Task.created_by_update("t", {"progress": 0.1}, T0)
    assert (running.status, running.params, running.extra, running.end_time) == (
        TaskStatus.RUNNING, {}, {"progress": 0.1}, None,
    )  # fmt: skip
    failed = Task.created_by_update("u", {"status": "failed", "params": {"n": 3}}, T0)
    assert (failed.status, failed.params, failed.end_time, failed.update_time) == (
        TaskStatus.FAILED, {"n": 3}, T0, T0,
    )  # fmt: skip
