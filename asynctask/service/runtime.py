"""The runtime of one service: what ``AsyncTask`` composes, built in one place.

An ``AsyncTask`` holds one ``Runtime`` under ``_asynctask``: the store, the
executor, the attempts in flight, the recorder of outcomes, the supervisor
and the queue line. The user's subclass keeps only its hooks and the public
helpers; ``runtime_of(service)`` is the seam for tests and tools.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future
from datetime import datetime, timezone
from typing import Any

from asynctask.core import (
    AsyncTaskError,
    OwnerLostError,
    Policy,
    Reason,
    Task,
    TaskNotFoundError,
    TaskRepository,
    check_task_id,
    decide,
    overdue_error,
)
from asynctask.core.metrics import NO_METRICS, Metrics
from asynctask.service.attempts import CURRENT_ATTEMPT, Attempts, own_copy
from asynctask.service.cancelling import cancel_task
from asynctask.service.execution import TaskCall, forget_prepared
from asynctask.service.listing import ListQuery, check_count, check_status, encode_cursor
from asynctask.service.logs import MAX_LOG_READ, MIN_LOG_READ, QueueLog, log_path, read_log_bytes
from asynctask.service.params import INT_MAX, MainParams, wants_progress
from asynctask.service.progress import ProgressBoard
from asynctask.service.recording import STOPPED_ERROR, Recorder, compare_and_set
from asynctask.service.retention import AutoPurge, Retention, horizon_of
from asynctask.service.retries import Retries
from asynctask.service.starts import Starts
from asynctask.service.store_faults import watched
from asynctask.service.submission import Submission
from asynctask.service.supervisor import Supervisor
from asynctask.service.watching import Changes, check_wait, events, is_news
from asynctask.service.wiring import WorkerSideRepository

_log = logging.getLogger("asynctask")
#: How long ``shutdown(wait=True)`` keeps retrying outcomes the store refused.
SHUTDOWN_FLUSH_SECONDS = 5.0


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class Runtime:
    """Everything one service runs on, composed here; ``service`` is asked only for its hooks."""

    def __init__(
        self,
        service: Any,
        *,
        policy: Policy,
        repository: TaskRepository,
        executor: Executor,
        owns_executor: bool,
        clock: Callable[[], datetime],
        logger_dir: str,
        resume: bool,
        monitor_interval: float,
        default_task_ids: bool,
        default_callback: bool = True,
        jitter: Callable[[], float] = random.random,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        name = type(service).__name__
        self.metrics, repository = metrics, watched(repository, metrics)  # store faults are counted there
        self.service = service
        self.params = MainParams(service.main)  # the one check of params, for Python and HTTP alike
        self._fresh_ids = default_task_ids  # uuid4 ids: a new one cannot be stored yet
        self.policy, self.repository, self.clock, self.logger_dir = policy, repository, clock, logger_dir
        self.token = uuid.uuid4().hex
        self.stopping = False
        self._owns_executor = owns_executor
        self.retries = Retries(policy, jitter)
        self.changes = Changes()
        self.recorder = Recorder(
            repository,
            clock,
            failure=self.retries.for_exception,
            written=self.retries.written,
            changed=self.changes.written,
            metrics=metrics,  # it sees which writes end a task
        )
        self.queue_log = QueueLog(name, logger_dir)
        interval = supervise_every(policy, monitor_interval)
        self.starts = Starts(self.recorder, clock, interval)
        board = ProgressBoard(self.recorder)
        self.attempts = Attempts(
            executor,
            self.recorder,
            self.starts,
            call_for=self._call_for,
            callback=lambda future, task_id: service.callback(future, task_id),  # a user's override
            on_dispatch=lambda: self.supervisor.start(),
            on_start=lambda: self.supervisor.starts_pending(),
            board=board,
            progress=wants_progress(service.main),
            default_callback=default_callback,
            metrics=metrics,
        )
        self.submission = Submission(
            repository, policy, clock, self.attempts.dispatch, changed=self.changes.written, metrics=metrics
        )
        self.retention = Retention(repository, logger_dir)
        if policy.keep_finished is not None:
            repository.expire_finished(policy.keep_finished)
        self.supervisor = Supervisor(
            self.attempts,
            self.starts,
            self.recorder,
            repository,
            policy,
            clock,
            interval=interval,
            monitor_interval=monitor_interval,
            name=name,
            resume=self.resume_orphan if resume else None,
            queue_line=self.write_queue_line,
            purge=AutoPurge(self.retention, policy, clock) if policy.keep_finished is not None else None,
            retries=self.retries,
            run_retry=self.run_retry,
        )
        self.resume = resume
        if resume or policy.keep_finished is not None:
            self.supervisor.start()

    def request(self, params: Mapping[str, Any], task_id: str, *, validated: bool) -> Task:
        """What ``run`` and ``submit`` do: check, name and submit a task."""
        if task_id and not params:
            return self.submission.submit(check_task_id(task_id), None)
        if not validated:
            params = self.params.check(params)
        # A fresh uuid cannot be stored yet: try the insert without reading first.
        fresh = not task_id and self._fresh_ids
        task_id = check_task_id(task_id or self.service.get_task_id(**params))
        return self.submission.submit(task_id, own_copy(params), fresh=fresh)  # the caller keeps theirs

    def retrieve(self, task_id: str) -> dict | None:
        """The task's detail, or ``None``; a running task past its time reads as failed (or is resumed)."""
        task = self.repository.get(check_task_id(task_id))
        return None if task is None else self.detail(task)

    def detail(self, task: Task) -> dict | None:
        """The detail of a task read from the store; a running one past its time is ended first."""
        if not task.status.finished:
            decision = decide(task, self.clock(), self.policy)
            if decision.overdue:
                task = self._end_overdue(task, decision.reason)
        return None if task is None else task_detail(task)

    def wait_for_change(self, task_id: str, version: object, wait: object) -> Task:
        """The task once its version is not ``version`` (``None``: the one stored now), or it is finished.

        At most ``wait`` seconds (0 to ``MAX_WAIT``): then the task as it is.
        A running task that passes its time meanwhile answers at once.
        """
        read = self._reader(check_task_id(task_id))
        wait = check_wait(wait)
        first = read()
        if first is None:
            raise TaskNotFoundError(task_id)
        known = first.version if version is None else check_count(version, "version", 0, INT_MAX)
        change = self.changes.wait(task_id, read, lambda task: is_news(task, known), wait)
        if change.task is None:
            raise TaskNotFoundError(task_id)
        return change.task

    def watch(self, task_id: str, after_version: object) -> Iterator[Task | None]:
        """The versions of a task after ``after_version`` as they are written, up to its finished one.

        ``None`` items: nothing new for a while (time for a keep-alive).
        ``TaskNotFoundError`` at once for an unknown task.
        """
        read = self._reader(check_task_id(task_id))
        after = None if after_version is None else check_count(after_version, "after_version", 0, INT_MAX)
        first = read()
        if first is None:
            raise TaskNotFoundError(task_id)
        return events(self.changes, task_id, read, first, after)

    def _reader(self, task_id: str) -> Callable[[], Task | None]:
        def read() -> Task | None:
            task = self.repository.get(task_id)
            if task is not None and self._overdue(task):
                task = self._end_overdue(task, decide(task, self.clock(), self.policy).reason)
            return task

        return read

    def _overdue(self, task: Task) -> bool:
        return not task.status.finished and decide(task, self.clock(), self.policy).overdue

    def counts(self) -> dict[str, int]:
        """How many tasks are in each status: ``{"running": n, "success": n, "failed": n}``."""
        return {status.value: count for status, count in self.repository.counts().items()}

    def list_tasks(self, query: ListQuery, retrieve: Callable[[str], dict | None] | None) -> dict:
        """One page of details, newest first, and the cursor of the next (``None`` on the last page).

        ``retrieve``: a user's own ``retrieve``, asked for each task's detail.
        """
        page = query.page(self.repository)
        if retrieve is None:
            details = [self.detail(task) for task in page.tasks]
        else:
            details = [retrieve(task.task_id) for task in page.tasks]
        found = [detail for detail in details if detail is not None]  # deleted since the page was read
        return {"tasks": found, "next_cursor": encode_cursor(page.after)}

    def cancel(self, task_id: str) -> dict:
        """Record the running task failed as cancelled, and stop its attempt if it runs here."""

        def unwritten_start(attempt: int) -> datetime | None:
            return self.starts.unwritten(self.attempts.items(), task_id, attempt)

        stored = self.repository.get(check_task_id(task_id))
        marked = []
        if stored is not None and not stored.status.finished:
            # Marked first, so a queued attempt cannot start meanwhile; cancelled after the write.
            marked = self.attempts.stop(task_id, stored.attempt, cancel=False)
        try:
            task = cancel_task(self.repository, self.recorder, task_id, unwritten_start)
        except BaseException:
            for item in marked:  # not cancelled after all: it may start and run as before
                item.stopped = None
            raise
        self.retries.discard(task_id, task.attempt)  # a retry waiting for its time never runs
        self.attempts.stop(task_id, task.attempt)
        return task_detail(task)

    def read_log(self, task_id: str, offset: object, limit: object) -> dict:
        """A piece of the task's log file: ``{"task_id", "text", "next_offset"}``."""
        check_task_id(task_id)
        offset = check_count(offset, "offset", 0, INT_MAX)
        limit = check_count(limit, "limit", MIN_LOG_READ, MAX_LOG_READ)
        if self.repository.get(task_id) is None:
            raise TaskNotFoundError(task_id)
        text, next_offset = read_log_bytes(log_path(self.logger_dir, task_id), offset, limit)
        return {"task_id": task_id, "text": text, "next_offset": next_offset}

    def purge(self, older_than: object, status: object, dry_run: bool) -> int:
        """Delete finished tasks (and logs) that ended ``older_than`` ago; ``dry_run``: count them only."""
        horizon = horizon_of(self.clock(), older_than)
        finished = check_status(status, finished=True)
        if dry_run:
            return self.retention.count(horizon, finished)
        return self.retention.purge(horizon, finished)

    def record_callback(self, future: Future, task_id: str) -> None:
        """The default ``callback``: record the result or error of the attempt that ended."""
        current = CURRENT_ATTEMPT.get()
        if current is None or current.task_id != task_id:
            self.recorder.record_future(future, task_id, None, None, None)
        else:
            self.recorder.record_future(
                future, task_id, current.attempt, current.start_time, current.known, current.progress
            )

    def update_task(self, task_id: str, data: Mapping[str, Any]) -> None:
        """Set fields of a stored task; inside ``callback``, only of the attempt that ended."""
        check_task_id(task_id)
        if not isinstance(data, Mapping):
            raise TypeError(f"update_task data must be a mapping, got {type(data).__name__}")
        current = CURRENT_ATTEMPT.get()
        if current is not None and current.task_id != task_id:
            current = None  # a callback updating another task: no fence, no start of its own

        def updated(stored: Task | None) -> Task | None:
            if stored is None:  # as the original library's upsert: the record is created
                return Task.created_by_update(task_id, data, self.clock())
            if current is not None and stored.attempt != current.attempt:
                _log.warning(
                    "dropped update_task of task %s attempt %s: superseded", task_id, current.attempt
                )
                return None
            # A start not written yet goes with it: the ending attempt's, or one running here.
            if current is not None:
                started_at = current.start_time
            else:
                started_at = self.starts.unwritten(self.attempts.items(), task_id, stored.attempt)
            return stored.updated(data, self.clock(), started_at)

        compare_and_set(self.repository, task_id, updated, written=self.changes.written, metrics=self.metrics)

    def wait(self, timeout: float | None) -> bool:
        """Block until every attempt submitted here is recorded, waiting retries too; ``False`` on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            if not self.attempts.wait(left):
                return False
            if not self.retries.waiting():
                return True
            if left is not None and left <= 0:
                return False
            time.sleep(0.01 if left is None else min(0.01, left))  # a retry waits for its time

    def in_flight(self) -> list[tuple[str, int, bool]]:
        """``(task_id, attempt, started)`` of every attempt submitted here and not recorded yet."""
        return [(item.task_id, item.attempt, item.future.running()) for item in self.attempts.items()]

    def write_queue_line(self) -> str:
        """Write ``waiting: W, running: R`` to ``threads_num.log`` now, and return it."""
        flags = [started for _, _, started in self.in_flight()]
        return self.queue_log.write(flags.count(False), flags.count(True))

    def resume_orphan(self, task_id: str) -> bool:
        """Take over a running task whose owner is gone, unless this service is stopping.

        A retry that waited for its time is taken over with its schedule. A
        task that retries takes its lost owner as a failure (so it is retried,
        or fails). Any other is rerun now, exactly once.
        """
        if self.stopping:
            return False
        stored = self.repository.get(task_id)
        if stored is None or stored.never_submitted or not self.policy.orphaned(stored, self.clock()):
            return False
        if stored.awaiting_retry:
            change = lambda t, now: t.reclaimed(now) if self.policy.orphaned(t, now) else None  # noqa: E731
        elif stored.retries_left is not None:
            failure = self.retries.failure(
                overdue_error(Reason.ORPHANED, self.policy), self.policy.retryable(OwnerLostError)
            )
            change = lambda t, now: failure(t, now) if self.policy.orphaned(t, now) else None  # noqa: E731
        else:
            return self.submission.resume(task_id)
        written = self.recorder.change_attempt(task_id, stored.attempt, change, known=stored)
        if written is not None:
            _log.info("task %s attempt %d taken over from a lost process", task_id, stored.attempt)
            self.retries.written(written)
        return written is not None

    def run_retry(self, task_id: str, attempt: int) -> bool:
        """A retry's time has come: hand it to the executor if it still waits; ``False``: not now (stopping).

        The store says first that it waits no more (compare-and-set on its
        attempt), so a cancel or a takeover meanwhile wins, and a lost owner
        of a retry that ran counts as a failure.
        """
        if self.stopping:
            return False
        written = self.recorder.change_attempt(
            task_id, attempt, lambda t, now: t.dispatched(now) if t.awaiting_retry else None
        )
        if written is not None:
            _log.info("task %s attempt %d: retrying (%s left)", task_id, attempt, written.retries_left)
            self.attempts.dispatch(written)
        return True

    def shutdown(self, wait: bool, cancel_pending: bool) -> None:
        """Stop heartbeats, the queue line, and the executor this service created."""
        self.stopping = True  # no more resuming other processes' tasks
        self.changes.stop()  # long-polls answer, event streams end
        if self._owns_executor:
            self.attempts.executor.shutdown(wait=wait, cancel_futures=cancel_pending)
        self.supervisor.stop()
        self.attempts.board.close()
        self.recorder.flush(timeout=SHUTDOWN_FLUSH_SECONDS if wait else 0)
        self._leave_waiting_retries()  # after the flush: an outcome written there may be a retry
        self.queue_log.close()
        forget_prepared(self.token)

    def _leave_waiting_retries(self) -> None:
        """At shutdown: retries waiting here stay in the store for ``resume`` (without a lease: failed)."""
        waiting = self.retries.waiting()
        if not waiting:
            return
        if self.policy.lease is not None:
            _log.warning(
                "stopping with %d retries waiting for their time: a process with resume=True takes them "
                "over after the lease, else they read as failed then: %s",
                len(waiting),
                waiting,
            )
            return
        for task_id, attempt in waiting:  # no lease: nothing would ever end them
            self.recorder.record(task_id, attempt, lambda t, now: t.failed(STOPPED_ERROR, now), "the stop")

    def _call_for(self, task: Task, params: dict) -> TaskCall:
        return TaskCall(
            self.service,
            task.task_id,
            task.attempt,
            params,
            self.logger_dir,
            self.token,
            self.policy.retry_on,
        )

    def _end_overdue(self, task: Task, reason: Reason) -> Task | None:
        """A running task past its time: take it over if orphaned and resuming, else fail (or retry) it."""
        if reason is Reason.ORPHANED and self.resume and not self.stopping:
            self.resume_orphan(task.task_id)
        else:
            error = overdue_error(reason, self.policy)
            kind = TimeoutError if reason is Reason.TIMED_OUT else OwnerLostError
            failure = self.retries.failure(error, self.policy.retryable(kind))
            self.recorder.record(task.task_id, task.attempt, failure, reason.value)
        return self.repository.get(task.task_id)  # None if it was deleted meanwhile


class WorkerSide:
    """The runtime as seen where a task runs in another process: no store, no executor, no threads."""

    repository = WorkerSideRepository()

    def __init__(self, token: str, logger_dir: str) -> None:
        self.token, self.logger_dir = token, logger_dir

    def _absent(self, *args: Any, **kwargs: Any) -> Any:
        raise AsyncTaskError(WorkerSideRepository.MESSAGE)

    request = retrieve = record_callback = update_task = wait = in_flight = shutdown = _absent
    list_tasks = read_log = purge = cancel = counts = wait_for_change = watch = _absent


def runtime_of(service: Any) -> Runtime:
    """The runtime of a service: for tests and operating tools, not for task code."""
    return service._asynctask


def supervise_every(policy: Policy, monitor_interval: float) -> float:
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
        params=task.params,
        version=task.version,
    )
    if task.retries_left is not None:  # the service retries: how many are left, and when the next is due
        detail.update(retries_left=task.retries_left, retry_time=task.retry_time)
    return detail
