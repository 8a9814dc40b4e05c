"""``ProcessPool``: an ``Executor`` of worker processes whose running tasks can be ended one at a time.

Built on pebble (``pip install "asynctask[processes]"``): cancelling the
future of a running task ends its process, and the pool starts a new one in
its place. AsyncTask cancels that future when a task times out or is
cancelled, so the work stops with its record, and a timed-out attempt never
overlaps its rerun.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

#: How a missing pebble is reported.
INSTALL_HINT = 'ProcessPool needs pebble: pip install "asynctask[processes]"'


class ProcessPool(Executor):
    """``max_workers`` processes (default: the CPUs); a running task's ``future.cancel()`` ends its process.

    ``max_tasks``: replace each process after that many tasks (0: never).
    ``context``: a ``multiprocessing`` context (``get_context("spawn")``);
    the default is the platform's. Each new process runs ``setup()`` of the
    service before its first task, as any process does.
    """

    def __init__(self, max_workers: int | None = None, *, max_tasks: int = 0, context: Any = None) -> None:
        try:
            import pebble
        except ImportError as exc:  # an optional extra
            raise ImportError(INSTALL_HINT) from exc
        workers = (os.cpu_count() or 1) if max_workers is None else max_workers
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"max_workers must be a positive int, got {max_workers!r}")
        options = {} if context is None else {"context": context}
        self.max_workers = workers
        self._pool = pebble.ProcessPool(max_workers=workers, max_tasks=max_tasks, **options)
        self._futures: weakref.WeakSet[Future] = weakref.WeakSet()
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Run ``fn(*args, **kwargs)`` in a worker process; cancelling its future ends it, even running."""
        future = self._pool.submit(fn, None, *args, **kwargs)
        with self._lock:
            self._futures.add(future)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Take no more tasks; ``cancel_futures``: drop the queued ones; ``wait``: until the running end."""
        if cancel_futures:
            with self._lock:
                queued = [future for future in self._futures if not future.running() and not future.done()]
            for future in queued:
                future.cancel()
        self._pool.close()
        if wait:
            self._pool.join()

    def __repr__(self) -> str:
        return f"ProcessPool(max_workers={self.max_workers})"
