"""Pages of tasks: the order every store lists them in, and where the next page starts."""

from __future__ import annotations

from datetime import datetime

from attrs import frozen

from asynctask.core.task import Task

#: The most tasks one page may hold.
MAX_PAGE = 1000


@frozen
class Position:
    """Where a page ended: the ``create_time`` and ``task_id`` of its last task.

    Stores list newest first, by ``(create_time, task_id)`` descending, so a
    page after a position holds the tasks strictly below it. ``create_time``
    never changes, so tasks created while paging land before the first page
    and no task is listed twice or skipped. ``create_time`` is ``None`` only
    for a MongoDB document that has none (the original library's), and such
    documents come after every other one.
    """

    create_time: datetime | None
    task_id: str

    @classmethod
    def of(cls, task: Task) -> Position:
        """The position just past ``task``."""
        return cls(task.create_time, task.task_id)


@frozen
class Page:
    """One page of a listing: its tasks, and the position of the next page (``None`` on the last)."""

    tasks: list[Task]
    after: Position | None


def page_of(tasks: list[Task], limit: int) -> Page:
    """A page from up to ``limit + 1`` tasks in listing order: one more than ``limit`` means a next page."""
    if len(tasks) > limit:
        return Page(tasks[:limit], Position.of(tasks[limit - 1]))
    return Page(tasks, None)
