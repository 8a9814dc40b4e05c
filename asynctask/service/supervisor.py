"""One thread per service: heartbeats, timeouts, store retries, resume, the queue line."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from asynctask.core import Policy, Reason, TaskRepository, overdue_error
from asynctask.service.attempts import Attempts
from asynctask.service.recording import Recorder
from asynctask.service.starts import Starts

_log = logging.getLogger("asynctask")


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
    ) -> None:
        self.attempts, self.starts, self.recorder, self.repository = attempts, starts, recorder, repository
        self.policy, self.clock = policy, clock
        self.interval = interval
        self.monitor_interval = monitor_interval
        self._name, self._resume, self._queue_line, self._purge = name, resume, queue_line, purge
        self._last_line = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._wake = threading.Condition()
        self._starts = False  # attempts have started whose start is not written yet

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
        if not attempts:
            return
        for task_id, attempt in self.repository.touch(attempts, self.clock()) or ():
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
                self.recorder.record(
                    item.task_id,
                    item.attempt,
                    lambda t, at, began=item.start_time: t.failed(
                        error, at, began
                    ),  # a start not written yet
                    "timeout",
                    start_time=item.start_time,
                )
                item.future.cancel()

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
                if not self._starts and not self._stop.is_set():
                    self._wake.wait(max(next_tick - time.monotonic(), 0))
                starts, self._starts = self._starts, False
            if time.monotonic() >= next_tick:  # heartbeats and timeouts first
                self._guarded(self.tick)
                next_tick = time.monotonic() + self.interval
            # A short attempt ends within the pause, and its outcome carries its start.
            if starts and not self._stop.wait(self.starts.pause):
                self._guarded(self.write_starts)

    @staticmethod
    def _guarded(step) -> None:
        try:
            step()
        except Exception:  # the thread must outlive any fault: it keeps tasks alive
            _log.exception("supervisor round failed")
