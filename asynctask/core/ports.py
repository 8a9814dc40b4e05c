"""The storage port: the few operations every task store provides."""

from __future__ import annotations

import abc
from collections.abc import Iterable
from datetime import datetime, timedelta

from asynctask.core.listing import Page, Position
from asynctask.core.status import TaskStatus
from asynctask.core.task import Task


class TaskRepository(abc.ABC):
    """Where tasks live. Implementations must be safe to share between threads.

    Atomicity is all in two writes: ``insert`` only when the id is absent and
    ``replace`` only when the stored ``version`` is still the one read. A
    value the store cannot hold raises ``UnencodableValueError`` and writes
    nothing.
    """

    @abc.abstractmethod
    def get(self, task_id: str) -> Task | None:
        """The stored task, or ``None`` when there is none under this id."""

    @abc.abstractmethod
    def insert(self, task: Task) -> bool:
        """Store a new task; ``False`` (and nothing written) if its id is taken."""

    @abc.abstractmethod
    def replace(self, task: Task, expected_version: int) -> bool:
        """Store ``task`` over the stored one if that is still at ``expected_version``.

        ``False`` (and nothing written) when the task is missing or its version
        has moved on: the caller re-reads and decides again.
        """

    def touch(self, attempts: Iterable[tuple[str, int]], now: datetime) -> list[tuple[str, int]]:
        """Heartbeat: set ``heartbeat_time`` of each running ``(task_id, attempt)`` to ``now``.

        Finished or superseded attempts are left alone; ``version`` does not
        change. Answers the attempts it did not find running: ended elsewhere
        (cancelled, timed out, rerun, deleted), so their owner stops them.
        Stores that can do it in one write override this loop.
        """
        gone = []
        for task_id, attempt in attempts:
            stored = self.get(task_id)
            if stored is not None and stored.attempt == attempt and stored.status is TaskStatus.RUNNING:
                self.replace(stored.heartbeat(now), stored.version)
            else:
                gone.append((task_id, attempt))
        return gone

    def stale_running(self, heartbeat_before: datetime, limit: int = 100) -> list[Task]:
        """At most ``limit`` running tasks whose ``last_sign_of_life`` is before ``heartbeat_before``.

        The orphans ``Policy.orphaned`` describes, for ``resume``: their last
        heartbeat, or their submission when none came, is that old.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot list tasks, so it cannot resume them")

    def list(
        self,
        status: TaskStatus | None = None,
        *,
        limit: int,
        after: Position | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Page:
        """One page of at most ``limit`` tasks, newest ``create_time`` first (ties: ``task_id`` descending).

        ``status`` keeps only tasks in it; ``after`` is the ``Page.after`` of the
        previous page; ``since <= create_time < until`` when they are given.
        Served by an index on ``(status, create_time)``.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot list tasks")

    def delete(self, task_ids: Iterable[str], *, ended_before: datetime | None = None) -> int:
        """Delete the tasks with these ids; how many were deleted.

        With ``ended_before``, only those still finished with an ``end_time``
        before it: a task rerun since it was chosen for retention stays.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot delete tasks")

    def finished_before(
        self, time: datetime, status: TaskStatus | None = None, limit: int = 100
    ) -> list[str]:
        """The ids of at most ``limit`` finished tasks whose ``end_time`` is before ``time``.

        ``status`` keeps only ``success`` or ``failed`` ones. The candidates of
        retention (``Policy.purge_horizon``), in no particular order.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot list finished tasks")

    def count_finished_before(self, time: datetime, status: TaskStatus | None = None) -> int:
        """How many tasks ``finished_before`` would answer without a limit (a dry run of a purge)."""
        raise NotImplementedError(f"{type(self).__name__} cannot count finished tasks")

    def counts(self) -> dict[TaskStatus, int]:
        """How many tasks are in each status, every status named (0 for none).

        Served by the index on ``status``: it costs a walk of that index, not
        of the tasks (about 30 ms for 10^6 tasks in SQLite).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot count tasks")

    def expire_finished(self, after: timedelta) -> None:  # noqa: B027 - optional, with a default that does nothing
        """The service deletes finished tasks ``after`` they end; a store may also do it by itself.

        MongoDB does, with a TTL index, as a backstop for when no service runs.
        The default does nothing: the service's own purge is enough.
        """

    def close(self) -> None:  # noqa: B027 - optional, with a default that does nothing
        """Release connections or files; the default has none."""
