"""``AsyncTask``: subclass it, write ``main``, and serve it."""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import uuid
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

from asynctask.core import (
    Action,
    Policy,
    SubmissionConflictError,
    Task,
    TaskNotFoundError,
    TaskRepository,
    UnencodableValueError,
    decide,
)
from asynctask.core.policy import DEFAULT_TASK_TIMEOUT
from asynctask.execution import AttemptSupersededError, TaskCall, execute_task, format_error
from asynctask.logs import open_task_logger
from asynctask.monitor import QueueMonitor
from asynctask.params import check_params, main_signature

_log = logging.getLogger("asynctask")
#: The attempt whose future the current ``callback`` call is about.
_CALLBACK_ATTEMPT: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "asynctask_callback_attempt", default=None
)
#: How many lost compare-and-set races a write tolerates before giving up.
MAX_RACES = 100


class InMemoryStoreWarning(UserWarning):
    """No store was given: tasks live in memory and are lost when the process ends."""


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class AsyncTask:
    """Turns ``main`` into an asynchronous service: submit, dedupe, run, record.

    Subclass it and define ``main(..., logger=None)``; optionally
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
        clock: Callable[[], datetime] = utc_now,
        monitor_interval: float = 60.0,
    ) -> None:
        owner = type(self).__name__
        if type(self).main is AsyncTask.main:
            raise TypeError(f"{owner} must define main(self, ..., logger=None)")
        self._signature = main_signature(self.main, owner)
        self.policy = Policy(task_timeout, rerun_time_limit)
        self.repository = _choose_repository(collection, repository)
        self.logger_dir = os.fspath(logger_dir)
        os.makedirs(self.logger_dir, exist_ok=True)
        self._executor, self._owns_executor = _choose_executor(max_worker, executor, owner)
        self.clock = clock
        self._inflight: dict[Future, tuple[str, int]] = {}
        self._inflight_lock = threading.Lock()
        self._monitor = QueueMonitor(owner, self.logger_dir, self._queue_counts, monitor_interval)

    # -- the methods a subclass defines or overrides -------------------------

    def main(self, logger: logging.Logger | None = None, **params: Any) -> Any:
        """The work itself; its return value becomes the task's ``result``."""
        raise NotImplementedError

    def get_task_id(self, **params: Any) -> str:
        """The dedupe key of a submission; the default is a new ``uuid4().hex`` each time."""
        return uuid.uuid4().hex

    def retrieve(self, task_id: str) -> dict | None:
        """The task's detail as a dict, or ``None`` when there is no such task."""
        task = self.repository.get(task_id)
        return None if task is None else task_detail(task)

    def callback(self, future: Future, task_id: str) -> None:
        """Called when an attempt ends; the default records its result or error."""
        self._record_outcome(future, task_id, _CALLBACK_ATTEMPT.get())

    # -- public helpers --------------------------------------------------------

    def run(self, task_id: str = "", **params: Any) -> str:
        """Submit ``main(**params)`` and return its task id at once.

        With ``task_id`` alone: rerun that stored task with its stored params
        (``TaskNotFoundError`` if there is none). With ``task_id`` and params:
        submit them under that id. A task already running, or finished and
        not expired, is kept, not run again.
        """
        if task_id and not params:
            if self.repository.get(_checked_id(task_id)) is None:
                raise TaskNotFoundError(task_id)
            self._submit(task_id, None)
            return task_id
        check_params(self._signature, params)
        task_id = _checked_id(task_id or self.get_task_id(**params))
        self._submit(task_id, params)
        return task_id

    def get_logger(self, task_id: str) -> logging.Logger:
        """The task's logger (``logging.getLogger(task_id)``), writing to its log file."""
        return open_task_logger(task_id, self.logger_dir, counted=False)

    def update_task(self, task_id: str, data: Mapping[str, Any]) -> None:
        """Set ``status``, ``result``, ``error`` or extra fields of a stored task."""
        if not isinstance(data, Mapping):
            raise TypeError(f"update_task data must be a mapping, got {type(data).__name__}")
        for _ in range(MAX_RACES):
            stored = self.repository.get(task_id)
            if stored is None:
                raise TaskNotFoundError(task_id)
            if self.repository.replace(stored.updated(data, self.clock()), stored.version):
                return
        raise SubmissionConflictError(f"update of task {task_id!r} kept losing races")

    def app(self, endpoint: str = "/api"):
        """A ``flask.Flask`` app serving this task at ``endpoint``."""
        from asynctask.http import create_app

        return create_app(self, endpoint)

    def shutdown(self, wait: bool = True, *, cancel_pending: bool = False) -> None:
        """Stop the queue monitor and the executor this service created.

        ``cancel_pending``: tasks not started yet are cancelled and recorded
        as failed instead of being run first.
        """
        self._monitor.stop()
        if self._owns_executor:
            self._executor.shutdown(wait=wait, cancel_futures=cancel_pending)

    def in_flight(self) -> list[tuple[str, int, bool]]:
        """``(task_id, attempt, started)`` of every attempt submitted here and not finished."""
        with self._inflight_lock:
            items = list(self._inflight.items())
        return [(task_id, attempt, future.running()) for future, (task_id, attempt) in items]

    def __enter__(self) -> AsyncTask:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- submission --------------------------------------------------------------

    def _submit(self, task_id: str, params: dict | None) -> Task:
        """Create, resubmit or keep, as the lifecycle decides; retry lost races."""
        for _ in range(MAX_RACES):
            stored = self.repository.get(task_id)
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
        on_start = partial(self._mark_started, task.task_id, task.attempt)
        call = TaskCall(self, task.task_id, task.attempt, task.params, on_start)
        self._monitor.start()
        try:
            future = self._executor.submit(execute_task, call)
        except Exception as exc:
            error = format_error(exc)
            self._finish(task.task_id, task.attempt, lambda t, now: t.failed(error, now))
            raise
        with self._inflight_lock:
            self._inflight[future] = (task.task_id, task.attempt)
        future.add_done_callback(partial(self._on_done, task.task_id, task.attempt))

    def _on_done(self, task_id: str, attempt: int, future: Future) -> None:
        with self._inflight_lock:
            self._inflight.pop(future, None)
        token = _CALLBACK_ATTEMPT.set(attempt)
        try:
            self.callback(future, task_id)
        except Exception:
            _log.exception("callback of task %s attempt %d failed", task_id, attempt)
        finally:
            _CALLBACK_ATTEMPT.reset(token)

    # -- recording -----------------------------------------------------------------

    def _mark_started(self, task_id: str, attempt: int) -> bool:
        try:
            return self._finish(task_id, attempt, lambda t, now: t.started(now)) is not None
        except Exception:
            _log.exception("could not record the start of task %s attempt %d", task_id, attempt)
            return True

    def _record_outcome(self, future: Future, task_id: str, attempt: int | None) -> None:
        if future.cancelled():
            error = "concurrent.futures.CancelledError: cancelled before it started (the service stopped)"
            change = lambda t, now: t.failed(error, now)  # noqa: E731
        elif future.exception() is not None:
            exc = future.exception()
            if isinstance(exc, AttemptSupersededError):
                _log.info("%s", exc)
                return
            change = lambda t, now: t.failed(format_error(exc), now)  # noqa: E731
        else:
            change = lambda t, now: t.succeeded(future.result(), now)  # noqa: E731
        try:
            written = self._finish(task_id, attempt, change)
        except UnencodableValueError as exc:
            error = format_error(exc, with_traceback=False)
            written = self._finish(task_id, attempt, lambda t, now: t.failed(error, now))
        if written is None:
            _log.warning(
                "dropped the late result of task %s attempt %s: a newer attempt owns it", task_id, attempt
            )

    def _finish(self, task_id: str, attempt: int | None, change: Callable) -> Task | None:
        """Apply ``change`` to the running task if ``attempt`` is still its attempt.

        ``None`` when the attempt was fenced off: finished, or superseded.
        """
        for _ in range(MAX_RACES):
            stored = self.repository.get(task_id)
            if stored is None or stored.status.finished:
                return None
            if attempt is not None and stored.attempt != attempt:
                return None
            task = change(stored, self.clock())
            if self.repository.replace(task, stored.version):
                return task
        raise SubmissionConflictError(f"update of task {task_id!r} kept losing races")

    def _queue_counts(self) -> tuple[int, int]:
        flags = [started for _, _, started in self.in_flight()]
        return flags.count(False), flags.count(True)


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


def _checked_id(task_id: object) -> str:
    if not isinstance(task_id, str) or not task_id:
        raise TypeError(f"a task_id must be a non-empty string, got {task_id!r}")
    return task_id


def _choose_repository(collection: Any, repository: TaskRepository | None) -> TaskRepository:
    if collection is not None and repository is not None:
        raise TypeError("pass either collection (a pymongo Collection) or repository=, not both")
    if isinstance(collection, TaskRepository):
        return collection
    if collection is not None:
        from asynctask.adapters.mongo import MongoTaskRepository

        return MongoTaskRepository(collection)
    if repository is not None:
        if not isinstance(repository, TaskRepository):
            raise TypeError(f"repository must be a TaskRepository, got {type(repository).__name__}")
        return repository
    from asynctask.adapters.memory import InMemoryTaskRepository

    warnings.warn(
        "no collection or repository given: tasks are kept in memory and lost when the process ends",
        InMemoryStoreWarning,
        stacklevel=3,
    )
    return InMemoryTaskRepository()


def _choose_executor(max_worker: int | None, executor: Executor | None, owner: str) -> tuple[Executor, bool]:
    if executor is not None:
        if max_worker is not None:
            raise TypeError("pass either max_worker or executor, not both")
        return executor, False
    if max_worker is not None and (
        isinstance(max_worker, bool) or not isinstance(max_worker, int) or max_worker < 1
    ):
        raise ValueError(f"max_worker must be a positive int, got {max_worker!r}")
    return ThreadPoolExecutor(max_workers=max_worker, thread_name_prefix=owner), True
