"""``AsyncTask``: subclass it, write ``main``, and serve it."""

from __future__ import annotations

import atexit
import contextvars
import copy
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

import attrs
from attrs import define

from asynctask.core import (
    Action,
    Policy,
    Reason,
    SubmissionConflictError,
    Task,
    TaskNotFoundError,
    TaskRepository,
    decide,
    overdue_error,
)
from asynctask.core.policy import DEFAULT_LEASE, DEFAULT_TASK_TIMEOUT
from asynctask.execution import (
    StartHook,
    TaskCall,
    execute_task,
    forget_prepared,
    format_error,
    unwrap_remote,
)
from asynctask.logs import task_logger
from asynctask.monitor import QueueLog
from asynctask.params import check_params, main_signature
from asynctask.recording import MAX_RACES, Recorder
from asynctask.supervisor import Supervisor
from asynctask.wiring import WorkerSideRepository, choose_executor, choose_repository

_log = logging.getLogger("asynctask")
#: The attempt (and, from another process, start time) the current ``callback`` call is about.
_CALLBACK: contextvars.ContextVar[tuple[int, datetime | None, Task] | None] = contextvars.ContextVar(
    "asynctask_callback", default=None
)
#: How long ``shutdown(wait=True)`` keeps retrying outcomes the store refused.
SHUTDOWN_FLUSH_SECONDS = 5.0
#: What a service drops when it is pickled into another process.
_RUNTIME_STATE = frozenset(
    ["repository", "recorder", "_executor", "_supervisor", "_queue_log"]
    + ["_inflight", "_inflight_changed", "clock", "_signature"]
)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


@define(eq=False)
class InFlight:
    """An attempt submitted by this process and not recorded yet."""

    task_id: str
    attempt: int
    submit_time: datetime
    #: The task as this process last wrote it: the next write tries compare-and-set on it first.
    task: Task
    future: Future | None = None
    timed_out: bool = False
    #: A newer attempt of the task was submitted here: this one must not start.
    superseded: bool = False
    #: When ``main`` began (by the service clock), and by ``time.monotonic()``; ``None`` while queued.
    start_time: datetime | None = None
    started_at: float = 0.0
    #: The start is in the store. Until then it is written with the outcome, or by the supervisor
    #: once the attempt has run ``START_DELAY``: a short attempt costs one write, not two.
    start_written: bool = False
    #: When it was handed to the executor, by ``time.monotonic()``.
    dispatched_at: float = attrs.Factory(time.monotonic)


class AsyncTask:
    """Turns ``main`` into an asynchronous service: submit, dedupe, run, record.

    Subclass it and define ``main(..., logger=None)``; optionally ``setup()``,
    ``get_task_id(**params)``, ``retrieve(task_id)`` and ``callback(future, task_id)``.
    """

    def __init__(
        self,
        collection: Any = None,
        logger_dir: str | os.PathLike = "logs",
        max_worker: int | None = None,
        executor: Executor | None = None,
        task_timeout: float | timedelta = DEFAULT_TASK_TIMEOUT,
        rerun_time_limit: float | timedelta | None = None,
        *,
        repository: TaskRepository | None = None,
        lease: float | timedelta | None = DEFAULT_LEASE,
        resume: bool = False,
        clock: Callable[[], datetime] = utc_now,
        monitor_interval: float = 60.0,
    ) -> None:
        owner = type(self).__name__
        if type(self).main is AsyncTask.main:
            raise TypeError(f"{owner} must define main(self, ..., logger=None)")
        self._signature = main_signature(self.main, owner)
        self.policy = Policy(task_timeout, rerun_time_limit, lease)
        self.repository = choose_repository(collection, repository)
        self.logger_dir = os.fspath(logger_dir)
        os.makedirs(self.logger_dir, exist_ok=True)
        self._executor, self._owns_executor = choose_executor(max_worker, executor, owner)
        self.clock = clock
        self.resume = resume
        self.stopping = False
        self.service_token = uuid.uuid4().hex
        self.recorder = Recorder(self.repository, clock)
        self._inflight: dict[Future, InFlight] = {}
        self._inflight_changed = threading.Condition()
        self._queue_log = QueueLog(owner, self.logger_dir)
        self._supervisor = Supervisor(self, _supervise_every(self.policy, monitor_interval), monitor_interval)
        if resume:
            self._supervisor.start()
        atexit.register(_shutdown_at_exit, weakref.ref(self))

    # -- the methods a subclass defines or overrides -------------------------

    def main(self, logger: logging.Logger | None = None, **params: Any) -> Any:
        """The work itself; its return value becomes the task's ``result``."""
        raise NotImplementedError

    def setup(self) -> None:
        """Load heavy state (a model ...) once per worker process, before its first task."""

    def get_task_id(self, **params: Any) -> str:
        """The dedupe key of a submission; the default is a new ``uuid4().hex`` each time."""
        return uuid.uuid4().hex

    def retrieve(self, task_id: str) -> dict | None:
        """The task's detail as a dict, or ``None``; a running task past its time reads as failed."""
        task = self.repository.get(task_id)
        if task is None:
            return None
        if not task.status.finished:
            decision = decide(task, self.clock(), self.policy)
            if decision.action is Action.RESUBMIT:
                task = self._end_overdue(task, decision.reason)
        return task_detail(task)

    def callback(self, future: Future, task_id: str) -> None:
        """Called when an attempt ends; the default records its result or error."""
        attempt, start_time, known = _CALLBACK.get() or (None, None, None)
        self.recorder.record_future(future, task_id, attempt, start_time, known)

    # -- public helpers --------------------------------------------------------

    def run(self, task_id: str = "", **params: Any) -> str:
        """Submit ``main(**params)`` and return its task id at once.

        With ``task_id`` alone: rerun that stored task with its stored params
        (``TaskNotFoundError`` if there is none). With ``task_id`` and params:
        submit them under that id. A task already running, or finished and
        not expired, is kept, not run again.
        """
        return self._request(params, task_id, validated=False).task_id

    def submit(
        self, params: Mapping[str, Any], task_id: str = "", *, validated: bool = False
    ) -> tuple[str, Any]:
        """Submit like ``run``; answer the task id and its detail, as ``retrieve`` would.

        ``validated``: the caller (the HTTP layer) has checked ``params`` against ``main``.
        """
        task = self._request(params, task_id, validated=validated)
        if getattr(self.retrieve, "__func__", None) is not AsyncTask.retrieve:
            return task.task_id, self.retrieve(task.task_id)  # a user's retrieve is honoured
        return task.task_id, task_detail(task)

    def _request(self, params: Mapping[str, Any], task_id: str, *, validated: bool) -> Task:
        if task_id and not params:
            return self._submit(_checked_id(task_id), None)
        if not validated:
            check_params(self._signature, params)
        # A fresh uuid cannot be stored yet: try the insert without reading first.
        fresh = not task_id and type(self).get_task_id is AsyncTask.get_task_id
        task_id = _checked_id(task_id or self.get_task_id(**params))
        return self._submit(task_id, _own_copy(params), fresh=fresh)  # the caller keeps theirs

    def resume_task(self, task_id: str) -> bool:
        """Rerun a stored task if the lifecycle re-opens it (failed, timed out, orphaned, expired)."""
        stored = self.repository.get(task_id)
        return stored is not None and self._submit(task_id, None).attempt != stored.attempt

    def get_logger(self, task_id: str) -> logging.Logger:
        """The task's logger (``logging.getLogger(task_id)``), writing to its log file."""
        return task_logger(task_id, self.logger_dir)

    def update_task(self, task_id: str, data: Mapping[str, Any]) -> None:
        """Set ``status``, ``result``, ``error`` or extra fields of a stored task."""
        if not isinstance(data, Mapping):
            raise TypeError(f"update_task data must be a mapping, got {type(data).__name__}")
        fence = _CALLBACK.get()  # inside callback(): only the attempt that ended may be updated
        for _ in range(MAX_RACES):
            stored = self.repository.get(task_id)
            if stored is None:
                raise TaskNotFoundError(task_id)
            if fence is not None and stored.attempt != fence[0]:
                _log.warning("dropped update_task of task %s attempt %s: superseded", task_id, fence[0])
                return
            started_at = None if fence is None else fence[1]  # a start not written yet goes with it
            if self.repository.replace(stored.updated(data, self.clock(), started_at), stored.version):
                return
        raise SubmissionConflictError(f"update of task {task_id!r} kept losing races")

    def app(self, endpoint: str = "/api", **options: Any):
        """A ``flask.Flask`` app serving this task at ``endpoint`` (option: ``max_content_length``)."""
        from asynctask.http import create_app

        return create_app(self, endpoint, **options)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every attempt submitted here is recorded (store retries too); ``False`` on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._inflight_changed:
            while self._inflight or self.recorder.unwritten:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                # Finished attempts notify; outcomes waiting for the store are polled.
                limits = [t for t in (left, 0.05 if self.recorder.unwritten else None) if t is not None]
                self._inflight_changed.wait(min(limits) if limits else None)
        return True

    def in_flight(self) -> list[tuple[str, int, bool]]:
        """``(task_id, attempt, started)`` of every attempt submitted here and not recorded yet."""
        return [(item.task_id, item.attempt, item.future.running()) for item in self.in_flight_items()]

    def in_flight_items(self) -> list[InFlight]:
        """The attempts submitted here and not recorded yet."""
        with self._inflight_changed:
            return list(self._inflight.values())

    def write_queue_line(self) -> str:
        """Write ``waiting: W, running: R`` to ``threads_num.log`` now, and return it."""
        flags = [started for _, _, started in self.in_flight()]
        return self._queue_log.write(flags.count(False), flags.count(True))

    def shutdown(self, wait: bool = True, *, cancel_pending: bool = False) -> None:
        """Stop heartbeats, the queue line, and the executor this service created.

        ``cancel_pending``: tasks not started yet are cancelled and recorded
        as failed instead of being run first.
        """
        self.stopping = True  # no more resuming other processes' tasks
        if self._owns_executor:
            self._executor.shutdown(wait=wait, cancel_futures=cancel_pending)
        self._supervisor.stop()
        self.recorder.flush(timeout=SHUTDOWN_FLUSH_SECONDS if wait else 0)
        self._queue_log.close()
        forget_prepared(self)

    def __enter__(self) -> AsyncTask:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def __getstate__(self) -> dict:
        # Sent to another process: no store, executor or threads travel with it.
        state = {key: value for key, value in self.__dict__.items() if key not in _RUNTIME_STATE}
        state["repository"] = WorkerSideRepository()
        return state

    # -- submission ----------------------------------------------------------------

    def _submit(self, task_id: str, params: dict | None, *, fresh: bool = False) -> Task:
        """Create, resubmit or keep, as the lifecycle decides; retry lost races."""
        for race in range(MAX_RACES):
            stored = None if fresh and race == 0 else self.repository.get(task_id)
            now = self.clock()
            decision = decide(stored, now, self.policy)
            if decision.action is Action.KEEP:
                return stored
            if decision.action is Action.CREATE:
                if params is None:
                    raise TaskNotFoundError(task_id)
                task = Task.submitted(task_id, params, now)
                won = self.repository.insert(task)
            else:
                task = stored.resubmitted(now, params)
                won = self.repository.replace(task, stored.version)
            if won:
                _log.info("task %s attempt %d submitted (%s)", task_id, task.attempt, decision.reason.value)
                self._dispatch(task)
                return task
        raise SubmissionConflictError(f"submission of task {task_id!r} kept losing races")

    def _dispatch(self, task: Task) -> None:
        item = InFlight(task.task_id, task.attempt, task.submit_time, task)
        if task.attempt > 1:  # an older attempt still queued here must not start
            for other in self.in_flight_items():
                if other.task_id == task.task_id and other.attempt < task.attempt:
                    other.superseded = True
        hook = StartHook(partial(self._mark_started, item))
        # main gets its own copy: what it does to its arguments must not reach the stored params.
        call = TaskCall(self, task.task_id, task.attempt, _own_copy(task.params))
        self._supervisor.start()
        try:
            future = self._executor.submit(execute_task, call, hook)
        except Exception as exc:
            error = format_error(exc)
            self.recorder.record(
                task.task_id, task.attempt, lambda t, now: t.failed(error, now), "the failure"
            )
            raise
        item.future = future
        with self._inflight_changed:
            self._inflight[future] = item
        future.add_done_callback(partial(self._on_done, item))

    def _on_done(self, item: InFlight, future: Future) -> None:
        view, start_time = unwrap_remote(future)
        # A start not written yet goes with the outcome (so does one from another process).
        token = _CALLBACK.set((item.attempt, start_time or item.start_time, item.task))
        try:
            self.callback(view, item.task_id)
        except Exception:
            _log.exception("callback of task %s attempt %d failed", item.task_id, item.attempt)
        finally:
            _CALLBACK.reset(token)
            with self._inflight_changed:
                self._inflight.pop(future, None)
                self._inflight_changed.notify_all()

    # -- recording -------------------------------------------------------------------

    def _end_overdue(self, task: Task, reason: Reason) -> Task:
        """A running task past its time: rerun it if orphaned and resuming, else fail it."""
        if reason is Reason.ORPHANED and self.resume and not self.stopping:
            self.resume_task(task.task_id)
        else:
            error = overdue_error(reason, self.policy)
            self.recorder.change_attempt(task.task_id, task.attempt, lambda t, now: t.failed(error, now))
        return self.repository.get(task.task_id)

    def _mark_started(self, item: InFlight) -> bool:
        """The attempt is about to run ``main``; ``False`` if it must not: timed out, rerun or ended
        meanwhile, here or by another process.

        An attempt that waited in the queue ``START_DELAY`` or more writes its
        start now, with compare-and-set: the write is also the check. One that
        starts sooner races with any change made that late, as a running
        attempt does; its start is written with its outcome, or by the
        supervisor if it runs ``START_DELAY`` or more: a short job costs one
        write, not two.
        """
        if item.timed_out or item.superseded:
            return False
        item.start_time, item.started_at = self.clock(), time.monotonic()
        if item.started_at - item.dispatched_at < self._supervisor.start_delay:
            self._supervisor.starts_pending()
            return True
        try:
            started = self.recorder.change_attempt(
                item.task_id, item.attempt, lambda t, now: t.started(now), known=item.task
            )
        except Exception:  # the store is failing: run, and let the outcome carry the start
            _log.exception("could not record the start of task %s attempt %d", item.task_id, item.attempt)
            self._supervisor.starts_pending()
            return True
        if started is None:
            return False
        item.task, item.start_written = started, True
        return True

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


def _shutdown_at_exit(service_ref: weakref.ref) -> None:
    """At interpreter exit: record what is left, as ``shutdown()`` would."""
    service = service_ref()
    if service is not None and not service.stopping:
        service.shutdown(wait=True)


def _supervise_every(policy: Policy, monitor_interval: float) -> float:
    """Seconds between supervisor rounds: often enough for the lease and the timeout to mean something."""
    periods = [policy.task_timeout.total_seconds() / 4, monitor_interval, 15.0]
    if policy.lease is not None:
        periods.append(policy.lease.total_seconds() / 4)
    return max(min(periods), 0.01)


def task_detail(task: Task) -> dict:
    """The public view of a task: what ``retrieve`` answers."""
    detail = dict(task.extra)
    detail.update(
        task_id=task.task_id,
        status=task.status.value,
        result=task.result,
        error=task.error,
        create_time=task.create_time,
        update_time=task.update_time,
        start_time=task.start_time,
        end_time=task.end_time,
        attempt=task.attempt,
    )
    return detail


_IMMUTABLE = frozenset([str, int, float, bool, type(None)])


def _own_copy(params: Mapping[str, Any]) -> dict:
    """A copy of ``params`` that shares nothing mutable with them (flat params: a plain copy)."""
    if all(type(value) in _IMMUTABLE for value in params.values()):
        return dict(params)
    return copy.deepcopy(dict(params))


def _checked_id(task_id: object) -> str:
    if not isinstance(task_id, str) or not task_id:
        raise TypeError(f"a task_id must be a non-empty string, got {task_id!r}")
    return task_id
