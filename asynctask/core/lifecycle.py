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
    ORPHANED = "orphaned"
    EXPIRED = "expired"
    RUNNING = "running"
    FRESH = "fresh"


@frozen
class Decision:
    """An action and its reason."""

    action: Action
    reason: Reason

    @property
    def overdue(self) -> bool:
        """A running attempt past its time: timed out, or its owner is gone."""
        return self.reason in (Reason.TIMED_OUT, Reason.ORPHANED)


def decide(stored: Task | None, now: datetime, policy: Policy) -> Decision:
    """Decide whether a submission creates, resubmits or keeps the stored task.

    - no stored task: create; one ``update_task`` made and never submitted: resubmit (as new);
    - running: kept until ``task_timeout`` has passed since its submission
      (resubmitted as timed out), or until no heartbeat came for ``lease``
      (resubmitted as orphaned: its owner is gone); two live attempts never
      overlap before;
    - failed: resubmitted;
    - success: kept, unless ``rerun_time_limit`` has passed since its last
      update, then resubmitted as expired.
    """
    if stored is None:
        return Decision(Action.CREATE, Reason.NEW)
    if stored.status is TaskStatus.RUNNING and stored.never_submitted:  # made by update_task
        return Decision(Action.RESUBMIT, Reason.NEW)
    if policy.timed_out(stored, now):
        return Decision(Action.RESUBMIT, Reason.TIMED_OUT)
    if policy.orphaned(stored, now):
        return Decision(Action.RESUBMIT, Reason.ORPHANED)
    if stored.status is TaskStatus.RUNNING:
        return Decision(Action.KEEP, Reason.RUNNING)
    if stored.status is TaskStatus.FAILED:
        return Decision(Action.RESUBMIT, Reason.FAILED)
    if policy.expired(stored, now):
        return Decision(Action.RESUBMIT, Reason.EXPIRED)
    return Decision(Action.KEEP, Reason.FRESH)


#: The ``error`` of a cancelled task: its last line ends with ``TaskCancelledError: cancelled by request``.
CANCELLED_ERROR = "asynctask.core.errors.TaskCancelledError: cancelled by request"


def overdue_error(reason: Reason, policy: Policy) -> str:
    """The ``error`` of a running attempt ended for ``reason``: ``ExcType: message``."""
    if reason is Reason.TIMED_OUT:
        return f"TimeoutError: the task ran longer than task_timeout ({policy.task_timeout})"
    return (
        "asynctask.core.errors.OwnerLostError: no heartbeat from the process running the task "
        f"for longer than the lease ({policy.lease}); that process stopped or its machine is gone"
    )
