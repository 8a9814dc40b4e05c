"""Attempts in flight in this process: handing them to the executor, their start, their end."""

from __future__ import annotations

import contextvars
import copy
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from datetime import datetime
from functools import partial
from typing import Any

import attrs
from attrs import define, frozen

from asynctask.core import Task
from asynctask.service.execution import StartHook, TaskCall, execute_task, format_error, unwrap_remote
from asynctask.service.recording import Recorder

_log = logging.getLogger("asynctask")
#: Seconds an attempt runs before its start is written on its own; a shorter one writes it with its outcome.
START_DELAY = 0.05


@frozen
class CurrentAttempt:
    """The attempt a ``callback`` call is about: only it may be recorded or updated from there."""

    attempt: int
    #: Its start, if not written yet: the outcome (or ``update_task``) writes it.
    start_time: datetime | None
    #: The task as this process last wrote it: the next write tries compare-and-set on it first.
    known: Task


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
    #: When ``main`` began (by the service clock), and by ``time.monotonic()``; ``None`` while queued.
    start_time: datetime | None = None
    started_monotonic: float = 0.0
    #: The start is in the store. Until then it is written with the outcome, or by the supervisor
    #: once the attempt has run ``START_DELAY``: a short attempt costs one write, not two.
    start_written: bool = False
    #: When it was handed to the executor, by ``time.monotonic()``.
    dispatched_at: float = attrs.Factory(time.monotonic)


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
        clock: Callable[[], datetime],
        *,
        call_for: Callable[[Task, dict], TaskCall],
        callback: Callable[[Future, str], None],
        on_dispatch: Callable[[], None],
        on_start: Callable[[], None],
    ) -> None:
        self.executor = executor
        self.recorder = recorder
        self.clock = clock
        self.start_delay = START_DELAY
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
        hook = StartHook(partial(self._mark_started, item))
        # main gets its own copy: what it does to its arguments must not reach the stored params.
        call = self._call_for(task, own_copy(task.params))
        self._on_dispatch()
        try:
            future = self.executor.submit(execute_task, call, hook)
        except Exception as exc:
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

    def write_start(self, item: InFlight) -> None:
        """Write the start of an attempt that is still running (the supervisor calls it)."""
        start_time = item.start_time
        started = self.recorder.change_attempt(
            item.task_id,
            item.attempt,
            lambda t, now: t if t.start_time else t.started(now, at=start_time),
            item.task,
        )
        item.start_written = True  # or the attempt is over: its outcome carries the start
        if started is not None:
            item.task = started

    def unwritten_start(self, task_id: str, attempt: int) -> datetime | None:
        """The start of this process's running ``attempt`` of ``task_id``, if not in the store yet."""
        for item in self.items():
            if item.task_id == task_id and item.attempt == attempt and not item.start_written:
                return item.start_time
        return None

    def _on_done(self, item: InFlight, future: Future) -> None:
        view, start_time = unwrap_remote(future)
        # A start not written yet goes with the outcome (so does one from another process).
        token = CURRENT_ATTEMPT.set(CurrentAttempt(item.attempt, start_time or item.start_time, item.task))
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
        meanwhile, here or by another process.

        An attempt that waited in the queue ``start_delay`` or more writes its
        start now, with compare-and-set: the write is also the check. One that
        starts sooner races with any change made that late, as a running
        attempt does; its start is written with its outcome, or by the
        supervisor if it runs ``start_delay`` or more: a short job costs one
        write, not two.
        """
        if item.timed_out or item.superseded:
            return False
        began, started_monotonic = self.clock(), time.monotonic()
        if started_monotonic - item.dispatched_at >= self.start_delay:
            try:
                started = self.recorder.change_attempt(
                    item.task_id, item.attempt, lambda t, now: t.started(now, at=began), known=item.task
                )
            except Exception:  # the store is failing: run, and let the outcome carry the start
                _log.exception("could not record the start of task %s attempt %d", item.task_id, item.attempt)
            else:
                if started is None:
                    return False  # ended, timed out or rerun while it waited: no start to record
                item.task, item.start_written = started, True
        # Only an attempt that runs has a start (the outcome and update_task carry it from here).
        item.start_time, item.started_monotonic = began, started_monotonic
        if not item.start_written:
            self._on_start()
        return True


_IMMUTABLE = frozenset([str, int, float, bool, type(None)])


def own_copy(params: Mapping[str, Any]) -> dict:
    """A copy of ``params`` that shares nothing mutable with them (flat params: a plain copy)."""
    if all(type(value) in _IMMUTABLE for value in params.values()):
        return dict(params)
    return copy.deepcopy(dict(params))
