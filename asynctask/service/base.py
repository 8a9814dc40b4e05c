"""``AsyncTask``: subclass it, write ``main``, and serve it."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from datetime import datetime, timedelta, timezone
from typing import Any

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
from asynctask.service.attempts import CALLBACK, AttemptsInFlight, InFlight, own_copy
from asynctask.service.execution import forget_prepared
from asynctask.service.logs import QueueLog, task_logger
from asynctask.service.params import check_params, main_signature
from asynctask.service.recording import MAX_RACES, Recorder
from asynctask.service.supervisor import Supervisor
from asynctask.service.wiring import WorkerSideRepository, choose_executor, choose_repository

_log = logging.getLogger("asynctask")
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


class AsyncTask(AttemptsInFlight):
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
        return uuid4_hex()

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
        attempt, start_time, known = CALLBACK.get() or (None, None, None)
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
        return self._submit(task_id, own_copy(params), fresh=fresh)  # the caller keeps theirs

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
        fence = CALLBACK.get()  # inside callback(): only the attempt that ended may be updated
        for _ in range(MAX_RACES):
            stored = self.repository.get(task_id)
            if stored is None:
                raise TaskNotFoundError(task_id)
            if fence is not None and stored.attempt != fence[0]:
                _log.warning("dropped update_task of task %s attempt %s: superseded", task_id, fence[0])
                return
            # A start not written yet goes with it: the ending attempt's, or one running here.
            started_at = fence[1] if fence is not None else self._unwritten_start(task_id, stored.attempt)
            if self.repository.replace(stored.updated(data, self.clock(), started_at), stored.version):
                return
        raise SubmissionConflictError(f"update of task {task_id!r} kept losing races")

    def app(self, endpoint: str = "/api", **options: Any):
        """A ``flask.Flask`` app serving this task at ``endpoint`` (option: ``max_content_length``)."""
        from asynctask.http import create_app

        return create_app(self, endpoint, **options)

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

    # -- recording -------------------------------------------------------------------

    def _end_overdue(self, task: Task, reason: Reason) -> Task:
        """A running task past its time: rerun it if orphaned and resuming, else fail it."""
        if reason is Reason.ORPHANED and self.resume and not self.stopping:
            self.resume_task(task.task_id)
        else:
            error = overdue_error(reason, self.policy)
            self.recorder.change_attempt(task.task_id, task.attempt, lambda t, now: t.failed(error, now))
        return self.repository.get(task.task_id)


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


def uuid4_hex() -> str:
    """``uuid.uuid4().hex``, without building a ``UUID``: 16 random bytes, version 4, RFC 4122 variant."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    return raw.hex()


def _checked_id(task_id: object) -> str:
    if not isinstance(task_id, str) or not task_id:
        raise TypeError(f"a task_id must be a non-empty string, got {task_id!r}")
    return task_id
