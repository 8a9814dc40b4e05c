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

_log = logging.getLogger("asynctask")


class Supervisor:
    """Every ``interval`` seconds, keeps the attempts in flight here honest in the store.

    It works through narrow collaborators: the ``attempts`` in flight, the
    ``recorder`` of outcomes, the ``repository`` for heartbeats and orphans,
    and two callables: ``resume(task_id)`` (``None`` unless the service
    resumes orphans) and ``queue_line()``.
    """

    def __init__(
        self,
        attempts: Attempts,
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
    ) -> None:
        self.attempts, self.recorder, self.repository = attempts, recorder, repository
        self.policy, self.clock = policy, clock
        self.interval = interval
        self.monitor_interval = monitor_interval
        self._name, self._resume, self._queue_line = name, resume, queue_line
        self._last_line = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._wake = threading.Condition()
        self._starts = False  # attempts have started whose start is not written yet
        self._start_backoff = 0.0  # seconds added to start_delay after a store fault

    def start(self) -> None:
        """Start the thread (once)."""
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._loop, name=f"asynctask-supervisor-{self._name}", daemon=True
                )
                self._thread.start()

    def starts_pending(self) -> None:
        """An attempt has started: write its start in the attempts' ``start_delay`` if it still runs then."""
        if not self._starts:  # under load it is set already: no lock, no wake-up
            with self._wake:
                self._starts = True
                self._wake.notify()

    def write_starts(self, min_age: float | None = None) -> None:
        """Write the starts of attempts running for ``min_age`` seconds (default ``start_delay``) or more.

        A round stops at the first store fault (the next waits longer, up to
        ``interval``) and after ``interval`` seconds, so heartbeats and
        timeouts never wait long for it.
        """
        min_age = self.attempts.start_delay if min_age is None else min_age
        now, left = time.monotonic(), False
        for item in self.attempts.items():
            if item.start_time is None or item.start_written:
                continue
            if now - item.started_monotonic < min_age or time.monotonic() - now > self.interval:
                left = True
            elif not item.future.done():
                try:
                    self.attempts.write_start(item)
                except Exception as exc:  # the store is failing: back off, then try again
                    _log.warning(
                        "could not record the start of task %s attempt %d: %s",
                        item.task_id,
                        item.attempt,
                        exc,
                    )
                    self._start_backoff = min(max(self._start_backoff * 2, 0.5), self.interval)
                    self.starts_pending()
                    return
        self._start_backoff = 0.0
        if left:
            self.starts_pending()

    def stop(self) -> None:
        """Stop the thread after its current tick."""
        self._stop.set()
        with self._wake:
            self._wake.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def tick(self) -> None:
        """One round: heartbeat, time out, retry refused writes, resume orphans, write the queue line."""
        for step in (
            self.heartbeat,
            self.time_out,
            self.recorder.retry_due,
            self.resume,
            self.queue_line,
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
        """One batched write: every attempt in flight here is alive."""
        attempts = [(item.task_id, item.attempt) for item in self.attempts.items()]
        attempts += self.recorder.unwritten_attempts()  # finished here, outcome not stored yet
        if attempts and self.policy.lease is not None:
            self.repository.touch(attempts, self.clock())

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
            # A short attempt ends within start_delay, and its outcome carries its start.
            if starts and not self._stop.wait(self.attempts.start_delay + self._start_backoff):
                self._guarded(self.write_starts)

    @staticmethod
    def _guarded(step) -> None:
        try:
            step()
        except Exception:  # the thread must outlive any fault: it keeps tasks alive
            _log.exception("supervisor round failed")
