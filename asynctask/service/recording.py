"""Writing the outcome of an attempt to the store: fenced, and retried while the store is down."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timedelta

from attrs import define

from asynctask.core import (
    SubmissionConflictError,
    Task,
    TaskRepository,
    UnencodableValueError,
    UpdateConflictError,
)
from asynctask.core.errors import AttemptSupersededError, RemoteTaskError
from asynctask.core.metrics import NO_METRICS, Metrics
from asynctask.service.execution import format_error

_log = logging.getLogger("asynctask")
#: How many lost compare-and-set races a write tolerates before giving up.
MAX_RACES = 100

#: A change of a running task: ``change(stored, now) -> new task``.
Change = Callable[[Task, datetime], Task]
#: The ``error`` of an attempt that never started because its service stopped.
STOPPED_ERROR = "concurrent.futures.CancelledError: cancelled before it started (the service stopped)"
#: ``compare_and_set``'s ``known`` when the caller knows nothing: read first.
UNREAD = object()


def compare_and_set(
    repository: TaskRepository,
    task_id: str,
    change: Callable[[Task | None], Task | None],
    *,
    known: Task | None | object = UNREAD,
    submission: bool = False,
    written: Callable[[Task], None] | None = None,
    metrics: Metrics = NO_METRICS,
) -> tuple[Task | None, bool]:
    """Every write that can lose a race: read, ``change``, write with compare-and-set; lost, again.

    ``change(stored)`` (``stored`` is ``None`` when absent) answers the task
    to store (inserted if absent, else replaced if ``stored`` is still the
    stored version), or ``stored`` itself or ``None``: nothing to write.
    ``known`` is what the caller believes is stored, tried before any read
    (``None``: absent). Answers the task and whether it was written. After
    ``MAX_RACES`` lost races: ``SubmissionConflictError`` for a ``submission``,
    else ``UpdateConflictError``. ``written`` is told of the task written
    (``Changes.written``: the waiters on it wake). A running task written
    finished is told to ``metrics``.
    """
    stored = known
    for race in range(MAX_RACES):
        if race or stored is UNREAD:
            stored = repository.get(task_id)
        task = change(stored)
        if task is None or task is stored:
            return task, False
        if repository.insert(task) if stored is None else repository.replace(task, stored.version):
            if stored is not None and task.status.finished and not stored.status.finished:
                metrics.finished(task.status.value)
            if written is not None:
                written(task)
            return task, True
    if submission:
        raise SubmissionConflictError(f"submission of task {task_id!r} kept losing races")
    raise UpdateConflictError(f"update of task {task_id!r} kept losing races")


@define
class _Unwritten:
    task_id: str
    attempt: int | None
    change: Change
    what: str
    first_failure: datetime
    next_try: datetime
    delay: timedelta
    start_time: datetime | None = None


class Recorder:
    """Applies changes to the attempt that ran, and keeps the ones the store refused for later."""

    def __init__(
        self,
        repository: TaskRepository,
        clock: Callable[[], datetime],
        *,
        retry_for: timedelta = timedelta(minutes=10),
        first_delay: timedelta = timedelta(seconds=0.5),
        max_delay: timedelta = timedelta(seconds=30),
        failure: Callable[[BaseException, str, datetime | None, dict | None], Change] | None = None,
        written: Callable[[Task], None] | None = None,
        changed: Callable[[Task], None] | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.repository, self.metrics = repository, metrics
        #: Told of every write (``Changes.written``).
        self.changed = changed
        self.clock = clock
        #: How a failure of ``main`` is recorded (``Retries.for_exception``: maybe as a retry), given
        #: ``(exc, error, start_time, progress)``: a start and a last progress not recorded yet go with it.
        self.failure = failure or (lambda exc, error, began, progress: _failed(error, began, progress))
        #: Told of every outcome written (a retry that waits is scheduled from there).
        self.on_written = written or (lambda task: None)
        self.retry_for, self.first_delay, self.max_delay = retry_for, first_delay, max_delay
        self._unwritten: list[_Unwritten] = []
        self._lock = threading.Lock()

    def change_attempt(
        self, task_id: str, attempt: int | None, change: Change, known: Task | None = None
    ) -> Task | None:
        """Apply ``change`` if ``attempt`` is still the running attempt; ``None`` when fenced off.

        ``known``: the task as this process last wrote it. If the store still
        holds that version, one compare-and-set write does it, with no read.
        """

        def fenced(stored: Task | None) -> Task | None:
            if stored is None or stored.status.finished or attempt not in (None, stored.attempt):
                return None
            return change(stored, self.clock())  # (a change that changes nothing writes nothing)

        known = UNREAD if known is None else known
        return compare_and_set(
            self.repository, task_id, fenced, known=known, written=self.changed, metrics=self.metrics
        )[0]

    def record(
        self,
        task_id: str,
        attempt: int | None,
        change: Change,
        what: str,
        known: Task | None = None,
        start_time: datetime | None = None,
    ) -> None:
        """Write how an attempt ended; a store fault queues the write for ``retry_due``.

        ``start_time``: the attempt's start if not written yet (``change`` writes it too).
        """
        try:
            self._write(task_id, attempt, change, what, known, start_time)
        except Exception as exc:  # the store is down or failing: keep the outcome, retry later
            now = self.clock()
            _log.warning(
                "could not record %s of task %s attempt %s, will retry: %s", what, task_id, attempt, exc
            )
            with self._lock:
                self._unwritten.append(
                    _Unwritten(
                        task_id,
                        attempt,
                        change,
                        what,
                        now,
                        now + self.first_delay,
                        self.first_delay,
                        start_time,
                    )
                )

    def record_future(
        self,
        future: Future,
        task_id: str,
        attempt: int | None,
        start_time: datetime | None,
        known: Task | None,
        progress: dict | None = None,
    ) -> None:
        """Record how the attempt behind ``future`` ended: its result, its error, or its cancellation.

        ``progress``: its last progress, not in the store yet: written with the outcome, in the
        same change (one write, and one new version of the task).
        """
        # An attempt's start not written yet is written with its outcome (``start_time``).
        if future.cancelled():
            change = _failed(STOPPED_ERROR, None, progress)
        elif future.exception() is not None:
            exc = future.exception()
            if isinstance(exc, AttemptSupersededError):
                _log.info("%s", exc)
                return
            error = str(exc) if isinstance(exc, RemoteTaskError) else format_error(exc)
            change = self.failure(exc, error, start_time, progress)
        else:
            result = future.result()
            change = lambda t, now: t.succeeded(result, now, start_time, progress)  # noqa: E731
        self.record(task_id, attempt, change, "the result", known=known, start_time=start_time)

    def retry_due(self) -> None:
        """Retry the queued writes that are due; give up loudly after ``retry_for``."""
        now = self.clock()
        with self._lock:
            due = [item for item in self._unwritten if item.next_try <= now]
            self._unwritten = [item for item in self._unwritten if item.next_try > now]
        for item in due:
            try:
                self._write(item.task_id, item.attempt, item.change, item.what, start_time=item.start_time)
                _log.info(
                    "recorded %s of task %s attempt %s after a store fault",
                    item.what,
                    item.task_id,
                    item.attempt,
                )
            except Exception as exc:
                self._reschedule(item, now, exc)

    @property
    def unwritten(self) -> int:
        """How many outcomes wait for the store to come back."""
        with self._lock:
            return len(self._unwritten)

    def unwritten_attempts(self) -> list[tuple[str, int]]:
        """``(task_id, attempt)`` of the outcomes waiting for the store: still ours to heartbeat."""
        with self._lock:
            return [(item.task_id, item.attempt) for item in self._unwritten if item.attempt is not None]

    def flush(self, timeout: float) -> None:
        """Retry every queued write now, for up to ``timeout`` seconds; log loudly what stays unwritten."""
        deadline, pause = time.monotonic() + timeout, 0.05
        while self.unwritten and time.monotonic() < deadline:
            with self._lock:
                for item in self._unwritten:
                    item.next_try = self.clock()
            self.retry_due()
            if self.unwritten:
                time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
                pause = min(pause * 2, 1.0)
        with self._lock:
            lost, self._unwritten = self._unwritten, []
        for item in lost:
            _log.error(
                "GAVE UP recording %s of task %s attempt %s: the store still refused it at shutdown",
                item.what, item.task_id, item.attempt,
            )  # fmt: skip

    def _reschedule(self, item: _Unwritten, now: datetime, exc: Exception) -> None:
        if now - item.first_failure >= self.retry_for:
            _log.error(
                "GAVE UP recording %s of task %s attempt %s after %s of store faults (last: %s); "
                "the task stays running in the store until its lease or task_timeout ends it",
                item.what, item.task_id, item.attempt, now - item.first_failure, exc,
            )  # fmt: skip
            return
        item.delay = min(item.delay * 2, self.max_delay)
        item.next_try = now + item.delay
        with self._lock:
            self._unwritten.append(item)

    def _write(
        self,
        task_id: str,
        attempt: int | None,
        change: Change,
        what: str,
        known: Task | None = None,
        start_time: datetime | None = None,
    ) -> None:
        try:
            written = self.change_attempt(task_id, attempt, change, known)
        except UnencodableValueError as exc:
            error = format_error(exc, with_traceback=False)
            written = self.change_attempt(task_id, attempt, _failed(error, start_time))
        if written is None:
            _log.warning(
                "dropped %s of task %s attempt %s: the attempt is over or superseded", what, task_id, attempt
            )
        else:
            self.on_written(written)


def _failed(error: str, start_time: datetime | None, progress: dict | None = None) -> Change:
    return lambda t, now: t.failed(error, now, start_time, progress)
