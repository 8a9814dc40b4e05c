"""Counting store faults: the one place that sees every call the service makes to its store.

A service with metrics works on its store through ``WatchedRepository``,
which tells ``Metrics.store_error`` about each call that fails with a fault
(``StoreUnavailableError``, or a connection or I/O error an adapter did not
translate), and raises it on unchanged. Refusals the port defines
(``UnencodableValueError``, an unsupported operation) are not faults. A
service without metrics uses its store directly: nothing is added to a call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asynctask.core import StoreUnavailableError, TaskRepository
from asynctask.core.metrics import Metrics

#: What counts as a store fault.
FAULTS = (StoreUnavailableError, OSError)


def watched(repository: TaskRepository, metrics: Metrics) -> TaskRepository:
    """``repository``, or, when ``metrics`` count something, a ``WatchedRepository`` over it."""
    if metrics.unavailable is not None:
        return repository
    return WatchedRepository(repository, metrics)


def unwatched(repository: TaskRepository) -> TaskRepository:
    """The store a ``WatchedRepository`` wraps (the user's own object), or ``repository`` itself."""
    return repository.inner if isinstance(repository, WatchedRepository) else repository


def _counted(name: str) -> Callable[..., Any]:
    def call(self: WatchedRepository, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.inner, name)(*args, **kwargs)  # looked up per call: a test may patch it
        except FAULTS:
            self.metrics.store_error()
            raise

    call.__name__, call.__doc__ = name, getattr(TaskRepository, name).__doc__
    return call


class WatchedRepository(TaskRepository):
    """A store whose faults are counted; every port method is the wrapped store's."""

    def __init__(self, inner: TaskRepository, metrics: Metrics) -> None:
        self.inner, self.metrics = inner, metrics

    get = _counted("get")
    insert = _counted("insert")
    replace = _counted("replace")
    touch = _counted("touch")
    stale_running = _counted("stale_running")
    list = _counted("list")
    delete = _counted("delete")
    finished_before = _counted("finished_before")
    count_finished_before = _counted("count_finished_before")
    counts = _counted("counts")
    expire_finished = _counted("expire_finished")
    close = _counted("close")

    def __getattr__(self, name: str) -> Any:  # anything beyond the port: the store's own
        if name == "inner":  # not set yet (a copy being made): no endless lookup
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return repr(self.inner)
