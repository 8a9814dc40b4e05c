from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asynctask.core import Action, Policy, Reason, Task, TaskStatus, decide
from tests.support import T0

POLICY = Policy(task_timeout=60, rerun_time_limit=3600)


def task_in(status: str, *, submitted_ago: float = 0, updated_ago: float = 0) -> Task:
    task = Task.submitted("t", {"x": 1}, T0 - timedelta(seconds=submitted_ago))
    if status == "success":
        task = task.succeeded("r", T0 - timedelta(seconds=updated_ago))
    elif status == "failed":
        task = task.failed("ValueError: bad", T0 - timedelta(seconds=updated_ago))
    return task


@pytest.mark.parametrize(
    ("stored", "policy", "expected"),
    [
        (None, POLICY, (Action.CREATE, Reason.NEW)),
        (task_in("running", submitted_ago=10), POLICY, (Action.KEEP, Reason.RUNNING)),
        (task_in("running", submitted_ago=60), POLICY, (Action.RESUBMIT, Reason.TIMED_OUT)),
        (
            task_in("running", submitted_ago=7200),
            Policy(task_timeout=10**6, rerun_time_limit=1),
            (Action.KEEP, Reason.RUNNING),
        ),
        (task_in("failed", submitted_ago=5, updated_ago=1), POLICY, (Action.RESUBMIT, Reason.FAILED)),
        (task_in("success", submitted_ago=20, updated_ago=10), POLICY, (Action.KEEP, Reason.FRESH)),
        (task_in("success", submitted_ago=4000, updated_ago=3601), POLICY, (Action.RESUBMIT, Reason.EXPIRED)),
        (task_in("success", submitted_ago=4000, updated_ago=3600), POLICY, (Action.KEEP, Reason.FRESH)),
        (task_in("success", submitted_ago=10**7, updated_ago=10**7), Policy(), (Action.KEEP, Reason.FRESH)),
    ],
    ids=[
        "no task is created",
        "running within the timeout is kept",
        "running past the timeout is resubmitted",
        "rerun_time_limit never reopens a running task",
        "failed is resubmitted",
        "fresh success is kept",
        "success older than rerun_time_limit is resubmitted",
        "success exactly at the limit is kept",
        "success never expires without a limit",
    ],
)
def test_decide(stored, policy, expected):
    decision = decide(stored, T0, policy)
    assert (decision.action, decision.reason) == expected


statuses = st.sampled_from(["running", "success", "failed"])
ages = st.floats(min_value=0, max_value=10**6, allow_nan=False)
limits = st.one_of(st.none(), st.floats(min_value=0.001, max_value=10**6))


@given(status=statuses, submitted_ago=ages, extra_age=ages, timeout=st.floats(0.001, 10**6), limit=limits)
def test_decide_never_overlaps_live_attempts_and_always_reruns_failures(
    status, submitted_ago, extra_age, timeout, limit
):
    stored = task_in(status, submitted_ago=submitted_ago + extra_age, updated_ago=submitted_ago)
    decision = decide(stored, T0, Policy(task_timeout=timeout, rerun_time_limit=limit))
    assert decision.action is not Action.CREATE
    if stored.status is TaskStatus.RUNNING:
        timed_out = T0 - stored.submit_time >= timedelta(seconds=timeout)
        assert (decision.action is Action.RESUBMIT) == timed_out
    elif stored.status is TaskStatus.FAILED:
        assert decision.action is Action.RESUBMIT
    else:
        expired = limit is not None and T0 - stored.update_time > timedelta(seconds=limit)
        assert (decision.action is Action.RESUBMIT) == expired
