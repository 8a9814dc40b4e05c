"""Live status: waiting for a task to change, for long-polls and event streams, with no busy loop.

A waiter sleeps on its own ``threading.Event``. A write this process makes
(every write goes through ``compare_and_set``, which tells ``Changes``) sets
the events of that task's waiters at once. A write made by another process
(another gunicorn worker, another host on the same MongoDB) is seen at the
waiter's next read of the store, every ``POLL_EVERY`` seconds: the port has
no change feed, and SQLite has none to offer. Waiting costs one read of one
task per poll, and no CPU in between.

A waiting request holds its request thread: under ``asynctask serve``,
``--workers W --threads T`` serve ``W * T`` requests at once, waiting ones
included.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator

from attrs import frozen

from asynctask.core import InvalidArgumentError, Task

#: How often a waiter reads the store again, for a change written by another process.
POLL_EVERY = 0.5
#: The longest a long-poll may wait, in seconds.
MAX_WAIT = 60
#: How often an event stream with nothing to say sends a comment: a client that went away is noticed
#: then, and its request thread is free again.
KEEPALIVE_EVERY = 5.0


@frozen
class Change:
    """What a waiter answers: the task as read (``None``: it is gone), and whether it changed."""

    task: Task | None
    changed: bool


class Changes:
    """Wakes the waiters on a task when it changes: at once for a write made here, else at a poll."""

    def __init__(
        self,
        poll_every: float = POLL_EVERY,
        keepalive_every: float = KEEPALIVE_EVERY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.poll_every, self.keepalive_every = poll_every, keepalive_every
        self.monotonic = monotonic
        #: Set when the process stops serving: every waiter answers at its next poll.
        self.stopping = False
        self._lock = threading.Lock()
        self._waiting: dict[str, set[threading.Event]] = {}

    def written(self, task: Task) -> None:
        """``task`` was just written here: wake its waiters (nothing to do, and no lock, when none wait)."""
        if task.task_id not in self._waiting:  # a waiter registers before it reads: it misses nothing
            return
        with self._lock:
            events = list(self._waiting.get(task.task_id, ()))
        for event in events:
            event.set()

    def stop(self) -> None:
        """The process stops serving: waiters answer what they have (an event stream ends)."""
        self.stopping = True  # a plain store: safe from a signal handler
        with self._lock:
            events = [event for events in self._waiting.values() for event in events]
        for event in events:
            event.set()

    def wait(
        self, task_id: str, read: Callable[[], Task | None], settled: Callable[[Task], bool], timeout: float
    ) -> Change:
        """Wait until ``settled(task)`` or the task is gone, at most ``timeout`` seconds.

        ``read`` reads the task from the store; ``settled`` says whether it is
        an answer (its version moved on, it finished). ``changed`` is false
        when the time ran out or the process is stopping.
        """
        event = threading.Event()
        with self._lock:
            self._waiting.setdefault(task_id, set()).add(event)
        try:
            deadline = self.monotonic() + timeout
            while True:
                event.clear()  # before the read: a write after it sets the event again
                task = read()
                if task is None or settled(task):
                    return Change(task, True)
                left = deadline - self.monotonic()
                if left <= 0 or self.stopping:
                    return Change(task, False)
                event.wait(min(self.poll_every, left))
        finally:
            with self._lock:
                events = self._waiting[task_id]
                events.discard(event)
                if not events:
                    del self._waiting[task_id]

    def waiters(self) -> int:
        """How many waiters there are now (for tests and operators)."""
        with self._lock:
            return sum(len(events) for events in self._waiting.values())


def is_news(task: Task, version: int) -> bool:
    """Whether ``task`` answers a waiter that knows ``version``: it moved on, or it is finished."""
    return task.version != version or task.status.finished


def _is_news_after(version: int, task: Task) -> bool:
    return is_news(task, version)


def check_wait(wait: object) -> float:
    """A long-poll's wait: a number of seconds from 0 to ``MAX_WAIT`` (``InvalidArgumentError`` else)."""
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= MAX_WAIT:
        message = f"wait must be a number of seconds from 0 to {MAX_WAIT}, got {wait!r}"
        raise InvalidArgumentError("wait", message)  # NaN too: it compares false
    return float(wait)


def events(
    changes: Changes,
    task_id: str,
    read: Callable[[], Task | None],
    first: Task,
    after_version: int | None,
) -> Iterator[Task | None]:
    """The versions of a task other than ``after_version`` as they are written, up to its finished one.

    Yields each new version once (``None``: nothing new for ``keepalive_every``
    seconds, a time to send a comment). Ends after a finished version, when
    the task is gone, or when the process stops serving.
    """
    task: Task | None = first
    while task is not None:
        if task.version != after_version:  # not "greater": a task deleted and submitted again starts over
            after_version = task.version
            yield task
        if task.status.finished or changes.stopping:
            return
        news = functools.partial(_is_news_after, after_version)
        change = changes.wait(task_id, read, news, changes.keepalive_every)
        if not change.changed and not changes.stopping:
            yield None
        task = change.task
