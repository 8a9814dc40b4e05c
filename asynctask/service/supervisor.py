"""One thread per service: heartbeats, timeouts, store retries, resume, the queue line."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from asynctask.core import Policy, Reason, TaskRepository, overdue_error
from asynctask.service.attempts import Attempts
from asynctask.service.recording import Recorder
from asynctask.service.retries import Retries
from asynctask.service.starts import Starts

_log = logging.getLogger("asynctask")
#: How long a retry that could not be started waits before the next try.
RETRY_AGAIN = timedelta(seconds=1)


class Supervisor:
    """Every ``interval`` seconds, keeps the attempts in flight here honest in the store.

    It works through narrow collaborators: the ``attempts`` in flight, the
    ``recorder`` of outcomes, the ``repository`` for heartbeats and orphans,
    and three callables: ``resume(task_id)`` (``None`` unless the service
    resumes orphans), ``queue_line()``, and ``purge()`` (``None`` unless the
    service keeps finished tasks for a while only).
    """

    def __init__(
        self,
        attempts: Attempts,
        starts: Starts,
        recorder: Recorder,
        repository: TaskRepository,
        policy: Policy,
        clock: Callable[[], datetime],
        *,
        interval: float,
        monitor_interval: float,
        name: str,
        resume: Callable[[str], bool] | None,
        queue_line: Callable[[], str],
        purge: Callable[[], None] | None = None,
        retries: Retries | None = None,
        run_retry: Callable[[str, int], bool] | None = None,
    ) -> None:
        self.attempts, self.starts, self.recorder, self.repository = attempts, starts, recorder, repository
        self.policy, self.clock = policy, clock
        self.interval = interval
        self.monitor_interval = monitor_interval
        self._name, self._resume, self._queue_line, self._purge = name, resume, queue_line, purge
        self.retries, self._run_retry = retries, run_retry
        if retries is not None:
            retries.on_scheduled = self.wake
        self._last_line = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._wake = threading.Condition()
        self._starts = False  # attempts have started whose start is not written yet
        self._woken = False  # a round is wanted before its time

    def start(self) -> None:
        """Start the thread (once)."""
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._loop, name=f"asynctask-supervisor-{self._name}", daemon=True
                )
                self._thread.start()

    def starts_pending(self) -> None:
        """An attempt has started: write its start after ``starts.pause`` if it still runs then."""
        if not self._starts:  # under load it is set already: no lock, no wake-up
            with self._wake:
                self._starts = True
                self._wake.notify()

    def write_starts(self, min_age: float | None = None) -> None:
        """One round of ``starts.write_due`` over the attempts in flight; another later if some are left."""
        if self.starts.write_due(self.attempts.items(), min_age):
            self.starts_pending()

    def wake(self) -> None:
        """Run a round now (a retry was scheduled): the loop may be waiting a whole ``interval``."""
        with self._wake:
            self._woken = True
            self._wake.notify()
        self.start()

    def stop(self) -> None:
        """Stop the thread after its current tick."""
        self._stop.set()
        with self._wake:
            self._wake.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def tick(self) -> None:
        """One round: heartbeat, time out, retry refused writes, resume orphans, queue line, purge."""
        for step in (
            self.heartbeat,
            self.time_out,
            self.recorder.retry_due,
            self.run_retries,
            self.resume,
            self.queue_line,
            self.purge,
        ):
            try:
                step()
            except Exception:
                _log.exception("supervisor step %s failed", step.__name__)

    def queue_line(self) -> None:
        """Every ``monitor_interval``: how many tasks wait and run, in ``threads_num.log``."""
        if time.monotonic() - self._last_line >= self.monitor_interval:
            self._last_line = time.monotonic()
            self._queue_line()

    def heartbeat(self) -> None:
        """One batched write: every attempt in flight here is alive; those ended elsewhere are stopped.

        Another process may have cancelled an attempt, timed it out or rerun
        its task: the store no longer holds it running, and it stops here.
        """
        attempts = [(item.task_id, item.attempt) for item in self.attempts.items()]
        attempts += self.recorder.unwritten_attempts()  # finished here, outcome not stored yet
        if self.retries is not None:
            attempts += self.retries.waiting()  # retries waiting for their time here
        if not attempts:
            return
        for task_id, attempt in self.repository.touch(attempts, self.clock()) or ():
            if self.retries is not None and self.retries.discard(task_id, attempt):
                _log.info(
                    "retry of task %s attempt %d ended elsewhere (cancelled or taken over)", task_id, attempt
                )
            if self.attempts.stop(
                task_id, attempt, "stopped: the task ended elsewhere (cancelled, timed out or rerun)"
            ):
                _log.info(
                    "task %s attempt %d ended elsewhere (cancelled, timed out or rerun): stopped",
                    task_id,
                    attempt,
                )

    def time_out(self) -> None:
        """Fail the attempts past ``task_timeout`` and cancel them where the executor can."""
        policy, now = self.policy, self.clock()
        error = overdue_error(Reason.TIMED_OUT, policy)
        for item in self.attempts.items():
            if policy.timed_out(item.task, now) and not item.timed_out:
                item.timed_out = True
                if self.retries is not None:  # a timeout is a failure: it may be retried
                    change = self.retries.failure(error, policy.retryable(TimeoutError), item.start_time)
                else:
                    change = lambda t, at, began=item.start_time: t.failed(error, at, began)  # noqa: E731
                self.recorder.record(
                    item.task_id, item.attempt, change, "timeout", start_time=item.start_time
                )
                item.future.cancel()

    def run_retries(self) -> None:
        """Hand the retries whose time has come to the executor."""
        if self.retries is not None and self._run_retry is not None:
            now = self.clock()
            for task_id, attempt in self.retries.due(now):
                try:
                    done = self._run_retry(task_id, attempt)
                except Exception:  # the store is failing: try again shortly, the retry is not lost
                    _log.exception("could not start the retry of task %s attempt %d", task_id, attempt)
                    done = False
                if done:  # handed to the executor, or no longer waiting (cancelled, taken over)
                    self.retries.discard(task_id, attempt)
                else:
                    self.retries.postpone(task_id, attempt, now + RETRY_AGAIN)

    def resume(self) -> None:
        """With ``resume=True``: rerun running tasks whose owner stopped heartbeating."""
        if self._resume is not None and self.policy.lease is not None:
            for task in self.repository.stale_running(self.clock() - self.policy.lease):
                self._resume(task.task_id)

    def purge(self) -> None:
        """With ``keep_finished``: a bounded round of deleting finished tasks past it."""
        if self._purge is not None:
            self._purge()

    def _loop(self) -> None:
        next_tick = time.monotonic() + self.interval
        while not self._stop.is_set():
            with self._wake:
                if not self._starts and not self._woken and not self._stop.is_set():
                    now = time.monotonic()
                    self._wake.wait(max(min(next_tick, self._next_retry(now)) - now, 0))
                starts, self._starts = self._starts, False
                woken, self._woken = self._woken, False
            now = time.monotonic()
            if woken or now >= min(next_tick, self._next_retry(now)):  # heartbeats and timeouts first
                self._guarded(self.tick)
                next_tick = time.monotonic() + self.interval
            # A short attempt ends within the pause, and its outcome carries its start.
            if starts and not self._stop.wait(self.starts.pause):
                self._guarded(self.write_starts)

    def _next_retry(self, now: float) -> float:
        """When, by ``time.monotonic()`` (``now``), the first waiting retry is due; far off if none waits."""
        due = None if self.retries is None else self.retries.next_due()
        if due is None:
            return float("inf")
        return now + max((due - self.clock()).total_seconds(), 0.0)

    @staticmethod
    def _guarded(step) -> None:
        try:
            step()
        except Exception:  # the thread must outlive any fault: it keeps tasks alive
            _log.exception("supervisor round failed")
