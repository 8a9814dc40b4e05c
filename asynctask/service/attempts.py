"""Attempts in flight in this process: handing them to the executor, their start, their end."""

from __future__ import annotations

import contextvars
import copy
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from datetime import datetime, timezone
from functools import partial
from typing import Any

import attrs
from attrs import define, frozen

from asynctask.core import Task
from asynctask.core.metrics import NO_METRICS, Metrics
from asynctask.service.execution import StartHook, TaskCall, execute_task, format_error, unwrap_remote
from asynctask.service.progress import ProgressBoard
from asynctask.service.recording import Recorder
from asynctask.service.starts import Starts

_log = logging.getLogger("asynctask")


@frozen
class CurrentAttempt:
    """The attempt a ``callback`` call is about: only it may be recorded or updated from there."""

    task_id: str
    attempt: int
    #: Its start, if not written yet: the outcome (or ``update_task``) writes it.
    start_time: datetime | None
    #: The task as this process last wrote it: the next write tries compare-and-set on it first.
    known: Task
    #: Its last progress not in the store yet: the outcome's write carries it.
    progress: dict | None = None


#: Set while the service calls ``callback(future, task_id)``, whose signature cannot carry it.
CURRENT_ATTEMPT: contextvars.ContextVar[CurrentAttempt | None] = contextvars.ContextVar(
    "asynctask_current_attempt", default=None
)


@define(eq=False)
class InFlight:
    """An attempt submitted by this process and not recorded yet."""

    task_id: str
    attempt: int
    #: The task as this process last wrote it: the next write tries compare-and-set on it first.
    task: Task
    future: Future | None = None
    timed_out: bool = False
    #: A newer attempt of the task was submitted here: this one must not start.
    superseded: bool = False
    #: Why it was stopped (cancelled, or ended by another process), or ``None``: a stopped
    #: attempt must not start, and its work is stopped where the executor or ``progress`` can.
    stopped: str | None = None
    #: When ``main`` began (by the service clock), and by ``time.monotonic()``; ``None`` while queued.
    start_time: datetime | None = None
    started_monotonic: float = 0.0
    #: The start is in the store; until then ``starts.py`` decides when it is written.
    start_written: bool = False
    #: When it was handed to the executor, by ``time.monotonic()``.
    dispatched_at: float = attrs.Factory(time.monotonic)
    #: When another process was let start it (it asked first), by ``time.monotonic()``; for metrics.
    started_elsewhere: float | None = None


class Attempts:
    """Follows the attempts of one service from the executor to the store.

    ``call_for(task)`` makes what the executor runs; ``callback(future, task_id)``
    is the service's hook, called when an attempt ends. ``on_dispatch`` and
    ``on_start`` tell the supervisor that there is something to watch.
    """

    def __init__(
        self,
        executor: Executor,
        recorder: Recorder,
        starts: Starts,
        *,
        call_for: Callable[[Task, dict], TaskCall],
        callback: Callable[[Future, str], None],
        on_dispatch: Callable[[], None],
        on_start: Callable[[], None],
        board: ProgressBoard,
        progress: bool = False,
        default_callback: bool = True,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.executor, self.recorder, self.starts, self.metrics = executor, recorder, starts, metrics
        #: Where attempts in other processes report their progress and ask whether to start.
        self.board = board
        board.on_start = self._started_elsewhere
        self.progress = progress  # main declares a ``progress`` parameter
        #: The service's ``callback`` is the default one, which writes the outcome with its last progress.
        self._outcome_carries_progress = default_callback
        self._call_for, self._callback = call_for, callback
        self._on_dispatch, self._on_start = on_dispatch, on_start
        self._inflight: dict[Future, InFlight] = {}
        self._changed = threading.Condition()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every attempt submitted here is recorded (store retries too); ``False`` on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while self._inflight or self.recorder.unwritten:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                # Finished attempts notify; outcomes waiting for the store are polled.
                limits = [t for t in (left, 0.05 if self.recorder.unwritten else None) if t is not None]
                self._changed.wait(min(limits) if limits else None)
        return True

    def items(self) -> list[InFlight]:
        """The attempts submitted here and not recorded yet."""
        with self._changed:
            return list(self._inflight.values())

    def dispatch(self, task: Task) -> None:
        """Hand a new attempt of ``task`` to the executor; an executor that refuses it fails the task."""
        item = InFlight(task.task_id, task.attempt, task)
        if task.attempt > 1:  # an older attempt still queued here must not start
            for other in self.items():
                if other.task_id == task.task_id and other.attempt < task.attempt:
                    other.superseded = True
        hook = StartHook(partial(self._mark_started, item), self.board.start_check(item))
        link = self.board.link(item) if self.progress else None
        # main gets its own copy: what it does to its arguments must not reach the stored params.
        call = self._call_for(task, own_copy(task.params))
        self._on_dispatch()
        self.metrics.queued()  # before it can start
        try:
            future = self.executor.submit(execute_task, call, hook, link)
        except Exception as exc:
            self.metrics.ended(None)
            self.board.finish((task.task_id, task.attempt))
            error = format_error(exc)
            self.recorder.record(
                task.task_id, task.attempt, lambda t, now: t.failed(error, now), "the failure"
            )
            raise
        item.future = future
        with self._changed:
            self._inflight[future] = item
        if item.start_time is not None and not item.start_written:
            self._on_start()  # it started before it was listed: the supervisor missed it
        future.add_done_callback(partial(self._on_done, item))

    def stop(
        self, task_id: str, attempt: int, reason: str = "cancelled by request", *, cancel: bool = True
    ) -> list[InFlight]:
        """Stop ``attempt`` of ``task_id`` (and older ones) here: ended in the store, its outcome is dropped.

        A queued attempt never starts; a running one is cancelled where the
        executor can end it (``ProcessPool``). ``cancel=False``: only mark them,
        so none starts, and leave their futures (the caller cancels them after
        its own write). Answers the attempts stopped.
        """
        stopped = [item for item in self.items() if item.task_id == task_id and item.attempt <= attempt]
        for item in stopped:
            item.stopped = reason
            if cancel and item.future is not None:
                item.future.cancel()
        return stopped

    def _on_done(self, item: InFlight, future: Future) -> None:
        # Its last progress is stored before its outcome, or with it (by the default callback).
        last = self.board.finish((item.task_id, item.attempt), write=not self._outcome_carries_progress)
        view, start_time = unwrap_remote(future)
        self._count_end(item, start_time)
        # A start not written yet goes with the outcome (so does one from another process).
        token = CURRENT_ATTEMPT.set(
            CurrentAttempt(
                item.task_id,
                item.attempt,
                start_time or item.start_time,
                item.task,
                None if last is None else last.as_field(),
            )
        )
        try:
            self._callback(view, item.task_id)
        except Exception:
            _log.exception("callback of task %s attempt %d failed", item.task_id, item.attempt)
        finally:
            CURRENT_ATTEMPT.reset(token)
            with self._changed:
                self._inflight.pop(future, None)
                self._changed.notify_all()

    def _mark_started(self, item: InFlight) -> bool:
        """The attempt is about to run ``main``; ``False`` if it must not: timed out, rerun or ended
        meanwhile, here or by another process (``starts.py`` says when its start is written)."""
        if item.timed_out or item.superseded or item.stopped or not self.starts.begin(item):
            return False
        self.metrics.started(item.started_monotonic - item.dispatched_at)
        if not item.start_written:
            self._on_start()
        return True

    def _started_elsewhere(self, item: InFlight) -> None:
        """Another process asked whether the attempt may start, and may: it runs now (for ``metrics``)."""
        if item.started_elsewhere is None:
            item.started_elsewhere = time.monotonic()
            self.metrics.started(item.started_elsewhere - item.dispatched_at)

    def _count_end(self, item: InFlight, remote_start: datetime | None) -> None:
        """Tell ``metrics`` the attempt is done; one that ran elsewhere unasked is known started only now."""
        if item.start_time is not None:
            self.metrics.ended(time.monotonic() - item.started_monotonic)
        elif item.started_elsewhere is not None:
            self.metrics.ended(time.monotonic() - item.started_elsewhere)
        elif remote_start is not None:
            ran = (datetime.now(timezone.utc) - remote_start).total_seconds()
            self.metrics.started(time.monotonic() - item.dispatched_at - ran)
            self.metrics.ended(ran)
        else:
            self.metrics.ended(None)  # it never started: cancelled, stopped or superseded


_IMMUTABLE = frozenset([str, int, float, bool, type(None)])


def own_copy(params: Mapping[str, Any]) -> dict:
    """A copy of ``params`` that shares nothing mutable with them (flat params: a plain copy)."""
    if all(type(value) in _IMMUTABLE for value in params.values()):
        return dict(params)
    return copy.deepcopy(dict(params))
