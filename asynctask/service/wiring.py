"""Choosing a service's store and executor from its constructor arguments."""

from __future__ import annotations

import warnings
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from asynctask.core import AsyncTaskError, InMemoryStoreWarning, TaskRepository
from asynctask.core.metrics import NO_METRICS, Metrics


class WorkerSideRepository(TaskRepository):
    """The store as seen from a worker process: not there; results travel back instead."""

    MESSAGE = (
        "the task store is not available where the task runs (another process or machine): "
        "return values from main instead of writing to the store"
    )

    def _absent(self, *args: Any) -> Any:
        raise AsyncTaskError(self.MESSAGE)

    get = insert = replace = touch = stale_running = _absent
    list = delete = finished_before = count_finished_before = counts = _absent


def choose_repository(collection: Any, repository: TaskRepository | None) -> TaskRepository:
    """The store: a wrapped pymongo collection, an injected repository, or memory (with a warning)."""
    if collection is not None and repository is not None:
        raise TypeError("pass either collection (a pymongo Collection) or repository=, not both")
    if isinstance(collection, TaskRepository):
        return collection
    if collection is not None:
        from asynctask.adapters.mongo import MongoTaskRepository

        return MongoTaskRepository(collection)
    if repository is not None:
        if not isinstance(repository, TaskRepository):
            raise TypeError(f"repository must be a TaskRepository, got {type(repository).__name__}")
        return repository
    from asynctask.adapters.memory import InMemoryTaskRepository

    warnings.warn(
        "no collection or repository given: tasks are kept in memory and lost when the process ends",
        InMemoryStoreWarning,
        stacklevel=4,
    )
    return InMemoryTaskRepository()


def choose_executor(max_worker: int | None, executor: Executor | None, owner: str) -> tuple[Executor, bool]:
    """The executor and whether the service owns it (and so shuts it down)."""
    if executor is not None:
        if max_worker is not None:
            raise TypeError("pass either max_worker or executor, not both")
        return executor, False
    if max_worker is not None and (
        isinstance(max_worker, bool) or not isinstance(max_worker, int) or max_worker < 1
    ):
        raise ValueError(f"max_worker must be a positive int, got {max_worker!r}")
    return ThreadPoolExecutor(max_workers=max_worker, thread_name_prefix=owner), True


def choose_metrics(metrics: Any, name: str) -> Metrics:
    """The service's metrics: ``True`` Prometheus's if installed, ``False`` none, or the given ones.

    Given ones are a ``PrometheusMetrics`` (its own registry) or any ``Metrics``.
    Without prometheus_client, ``True`` counts nothing and ``GET /metrics`` says what to install.
    """
    if metrics is False:
        return NO_METRICS
    if isinstance(metrics, Metrics):
        return metrics
    from asynctask.adapters import prometheus

    if metrics is True:
        try:
            return prometheus.default_metrics().for_service(name)
        except ImportError:
            return Metrics(unavailable=prometheus.INSTALL_HINT)
    if isinstance(metrics, prometheus.PrometheusMetrics):
        return metrics.for_service(name)
    raise TypeError(f"metrics must be True, False, a PrometheusMetrics or a Metrics, got {metrics!r}")
