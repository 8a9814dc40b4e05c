"""Dedupe: a submission creates, resubmits or keeps the stored task, as the lifecycle decides."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from asynctask.core import Action, Policy, Task, TaskNotFoundError, TaskRepository, decide
from asynctask.core.metrics import NO_METRICS, Metrics
from asynctask.service.recording import UNREAD, compare_and_set

_log = logging.getLogger("asynctask")
#: How ``metrics.submitted`` names what a submission did.
OUTCOMES = {Action.CREATE: "created", Action.KEEP: "deduplicated", Action.RESUBMIT: "rerun"}


class Submission:
    """Writes submissions with the store's compare-and-set, and hands each new attempt to ``dispatch``."""

    def __init__(
        self,
        repository: TaskRepository,
        policy: Policy,
        clock: Callable[[], datetime],
        dispatch: Callable[[Task], None],
        changed: Callable[[Task], None] | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.repository, self.policy, self.clock = repository, policy, clock
        self.changed = changed
        self._dispatch, self.metrics = dispatch, metrics

    def submit(self, task_id: str, params: dict | None, *, fresh: bool = False) -> Task:
        """Create, resubmit or keep ``task_id`` (``params=None``: rerun with the stored params).

        A submission that loses a race re-reads and decides again. ``fresh``:
        the id was just made up, so the first try inserts without reading.
        What was decided last is counted (``metrics.submitted``).
        """
        task, action = self._decide(task_id, params, fresh)
        self.metrics.submitted(OUTCOMES[action])
        return task

    def _decide(self, task_id: str, params: dict | None, fresh: bool = False) -> tuple[Task, Action]:
        """``submit`` without counting it: the task, and the action decided last."""
        reasons, actions = [], []

        def decided(stored: Task | None) -> Task:
            now = self.clock()
            decision = decide(stored, now, self.policy)
            reasons.append(decision.reason)
            actions.append(decision.action)
            if decision.action is Action.KEEP:
                return stored
            retries = self.policy.retries_per_submission
            if decision.action is Action.RESUBMIT:
                return stored.resubmitted(now, params, retries)
            if params is None:
                raise TaskNotFoundError(task_id)
            return Task.submitted(task_id, params, now, retries)

        known = None if fresh else UNREAD
        task, written = compare_and_set(
            self.repository, task_id, decided, known=known, submission=True, written=self.changed
        )
        if written:
            _log.info("task %s attempt %d submitted (%s)", task_id, task.attempt, reasons[-1].value)
            self._dispatch(task)
        return task, actions[-1]

    def resume(self, task_id: str) -> bool:
        """Rerun a stored task if the lifecycle re-opens it (failed, timed out, orphaned, expired)."""
        stored = self.repository.get(task_id)
        if stored is None or stored.never_submitted:  # update_task made it: nothing of it ran to resume
            return False
        return self._decide(task_id, None)[0].attempt != stored.attempt  # not a submission: not counted
