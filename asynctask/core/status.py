"""The three statuses of a task, the same string in Python, JSON and every store."""

from enum import Enum


class TaskStatus(str, Enum):
    """Where a task is: ``running`` from submission on, then ``success`` or ``failed``."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        """True for ``success`` and ``failed``."""
        return self is not TaskStatus.RUNNING
