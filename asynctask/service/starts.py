"""When an attempt's start is written: the one home of the rule that makes a short job one write cheaper.

- An attempt that waited ``delay`` (``START_DELAY``) or more in the queue
  writes its start as it begins, with compare-and-set: the write is also the
  check that it was not ended, timed out or rerun while it waited.
- One that begins sooner writes nothing then. Its outcome carries its start
  (``Task.succeeded/failed/updated(..., started_at)``), or, if it is still
  running ``delay`` later, the supervisor writes it (``write_due``).
- What it cannot do: a change another process makes in those first ``delay``
  seconds races with the start, as any change to a running attempt does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from asynctask.service.recording import Recorder

_log = logging.getLogger("asynctask")
#: Seconds an attempt runs before its start is written on its own; a shorter one writes it with its outcome.
START_DELAY = 0.05


class Starts:
    """Writes the starts of attempts (``InFlight`` items) by the rule above; ``interval`` caps a round."""

    def __init__(self, recorder: Recorder, clock: Callable[[], datetime], interval: float) -> None:
        self.recorder, self.clock, self.interval = recorder, clock, interval
        self.delay = START_DELAY
        self.backoff = 0.0  # seconds added to the delay after a store fault

    @property
    def pause(self) -> float:
        """How long the supervisor waits before a round of ``write_due``."""
        return self.delay + self.backoff

    def begin(self, item) -> bool:
        """The attempt is about to run ``main``: record when; ``False`` if the store says it must not run.

        Only an attempt that waited ``delay`` or more writes now; the store
        failing is no reason not to run (the outcome carries the start).
        """
        began, started_monotonic = self.clock(), time.monotonic()
        if started_monotonic - item.dispatched_at >= self.delay:
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
        item.start_time, item.started_monotonic = began, started_monotonic
        return True

    def write(self, item) -> None:
        """Write the start of an attempt that is still running."""
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

    def write_due(self, items: Iterable, min_age: float | None = None) -> bool:
        """Write the starts of attempts running ``min_age`` seconds (default ``delay``) or more.

        A round stops at the first store fault (the next waits longer, up to
        ``interval``) and after ``interval`` seconds, so heartbeats and
        timeouts never wait long for it. Answers whether starts are left to write.
        """
        min_age = self.delay if min_age is None else min_age
        now, left = time.monotonic(), False
        for item in items:
            if item.start_time is None or item.start_written:
                continue
            if now - item.started_monotonic < min_age or time.monotonic() - now > self.interval:
                left = True
            elif not item.future.done():
                try:
                    self.write(item)
                except Exception as exc:  # the store is failing: back off, then try again
                    _log.warning(
                        "could not record the start of task %s attempt %d: %s",
                        item.task_id,
                        item.attempt,
                        exc,
                    )
                    self.backoff = min(max(self.backoff * 2, 0.5), self.interval)
                    return True
        self.backoff = 0.0
        return left

    @staticmethod
    def unwritten(items: Iterable, task_id: str, attempt: int) -> datetime | None:
        """The start of this process's running ``attempt`` of ``task_id``, if not in the store yet."""
        for item in items:
            if item.task_id == task_id and item.attempt == attempt and not item.start_written:
                return item.start_time
        return None
