"""The one rule that decides what a submission does to a stored task."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from attrs import frozen

from asynctask.core.policy import Policy
from asynctask.core.status import TaskStatus
from asynctask.core.task import Task


class Action(str, Enum):
    """What a submission does."""

    CREATE = "create"
    RESUBMIT = "resubmit"
    KEEP = "keep"


class Reason(str, Enum):
    """Why the lifecycle decided what it did."""

    NEW = "new"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    EXPIRED = "expired"
    RUNNING = "running"
    FRESH = "fresh"


@frozen
class Decision:
    """An action and its reason."""

    action: Action
    reason: Reason


def decide(stored: Task | None, now: datetime, policy: Policy) -> Decision:
    """Decide whether a submission creates, resubmits or keeps the stored task.

    - no stored task: create;
    - running: kept until ``task_timeout`` has passed since its submission,
      then resubmitted as timed out (two live attempts never overlap before);
    - failed: resubmitted;
    - success: kept, unless ``rerun_time_limit`` has passed since its last
      update, then resubmitted as expired.
    """
    if stored is None:
        return Decision(Action.CREATE, Reason.NEW)
    if stored.status is TaskStatus.RUNNING:
        if now - stored.submit_time >= policy.task_timeout:
            return Decision(Action.RESUBMIT, Reason.TIMED_OUT)
        return Decision(Action.KEEP, Reason.RUNNING)
    if stored.status is TaskStatus.FAILED:
        return Decision(Action.RESUBMIT, Reason.FAILED)
    limit = policy.rerun_time_limit
    if limit is not None and now - stored.update_time > limit:
        return Decision(Action.RESUBMIT, Reason.EXPIRED)
    return Decision(Action.KEEP, Reason.FRESH)
