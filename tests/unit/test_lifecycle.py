from datetime import timedelta

import pytest
from attrs import evolve
from hypothesis import given
from hypothesis import strategies as st

from asynctask.core import Action, Policy, Reason, Task, TaskStatus, decide
from tests.support import T0

POLICY = Policy(task_timeout=60, rerun_time_limit=3600, lease=30)


def task_in(
    status: str, *, submitted_ago: float = 0, updated_ago: float = 0, beat_ago: float | None = None
) -> Task:
    task = Task.submitted("t", {"x": 1}, T0 - timedelta(seconds=submitted_ago))
    if beat_ago is not None:
        task = evolve(task, heartbeat_time=T0 - timedelta(seconds=beat_ago))
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
        (task_in("running", submitted_ago=60, beat_ago=1), POLICY, (Action.RESUBMIT, Reason.TIMED_OUT)),
        (task_in("running", submitted_ago=50, beat_ago=30), POLICY, (Action.KEEP, Reason.RUNNING)),
        (task_in("running", submitted_ago=50, beat_ago=31), POLICY, (Action.RESUBMIT, Reason.ORPHANED)),
        (
            task_in("running", submitted_ago=7200),
            Policy(task_timeout=10**6, lease=None),
            (Action.KEEP, Reason.RUNNING),
        ),
        (
            task_in("running", submitted_ago=7200, beat_ago=1),
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
        "running with a heartbeat within the lease is kept",
        "running without a heartbeat for the lease is resubmitted as orphaned",
        "without a lease only the timeout reopens a running task",
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


@given(
    status=statuses,
    submitted_ago=ages,
    extra_age=ages,
    beat_ago=ages,
    timeout=st.floats(0.001, 10**6),
    limit=limits,
    lease=limits,
)
def test_decide_never_overlaps_live_attempts_and_always_reruns_failures(
    status, submitted_ago, extra_age, beat_ago, timeout, limit, lease
):
    stored = task_in(
        status, submitted_ago=submitted_ago + extra_age, updated_ago=submitted_ago, beat_ago=beat_ago
    )
    policy = Policy(task_timeout=timeout, rerun_time_limit=limit, lease=lease)
    decision = decide(stored, T0, policy)
    assert decision.action is not Action.CREATE
    if stored.status is TaskStatus.RUNNING:
        timed_out = T0 - stored.submit_time >= policy.task_timeout
        orphaned = lease is not None and T0 - stored.heartbeat_time > policy.lease
        assert (decision.action is Action.RESUBMIT) == (timed_out or orphaned)
    elif stored.status is TaskStatus.FAILED:
        assert decision.action is Action.RESUBMIT
    else:
        expired = limit is not None and T0 - stored.update_time > policy.rerun_time_limit
        assert (decision.action is Action.RESUBMIT) == expired
