"""Test doubles: a clock that moves when told, an executor run by hand."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Executor, Future
from datetime import datetime, timedelta, timezone

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class ManualExecutor(Executor):
    """Queues submitted calls; the test runs them when it wants, in the calling thread."""

    def __init__(self) -> None:
        self.pending: deque = deque()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        self.pending.append((future, fn, args, kwargs))
        return future

    def run_next(self) -> Future:
        future, fn, args, kwargs = self.pending.popleft()
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - an executor records everything
                future.set_exception(exc)
        return future

    def run_all(self) -> int:
        count = 0
        while self.pending:
            self.run_next()
            count += 1
        return count


def race(count: int, action) -> list:
    """Run ``action(index)`` in ``count`` threads released together; their results by index."""
    import threading

    barrier = threading.Barrier(count, timeout=30)
    results: list = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        results[index] = action(index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
