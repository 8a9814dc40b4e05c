"""Prometheus metrics of services, through ``prometheus_client`` (the optional extra ``asynctask[metrics]``).

``PrometheusMetrics`` owns the metric families in one registry (by default
prometheus_client's own, created once per process however many services
there are); ``for_service(name)`` gives one service its ``Metrics``, every
sample labelled ``service=<class name>``, a label as bounded as the number
of service classes in the process. Under gunicorn (``PROMETHEUS_MULTIPROC_DIR``
set, as ``asynctask serve`` does) every worker writes its values to that
directory, and a scrape answered by any worker sums them all.

``prometheus_client`` is imported when a service is built, not with this
module, so ``asynctask`` imports without it.
"""

from __future__ import annotations

import importlib
import os
import threading
from types import ModuleType
from typing import Any

from asynctask.core.metrics import IN_FLIGHT_STATES, SUBMISSION_OUTCOMES, Metrics

#: What ``GET /metrics`` says when prometheus_client is not installed.
INSTALL_HINT = 'metrics need prometheus_client: pip install "asynctask[metrics]"'
#: The environment variable of prometheus_client's multiprocess mode.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Seconds: from a few milliseconds up to the default task timeout of four hours.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400)

_default: PrometheusMetrics | None = None
_default_lock = threading.Lock()


def client() -> ModuleType | None:
    """The ``prometheus_client`` module, or ``None`` when it is not installed."""
    try:
        return importlib.import_module("prometheus_client")
    except ImportError:
        return None


class PrometheusMetrics:
    """The asynctask metric families, registered once in ``registry`` (default: prometheus_client's).

    A test passes its own ``CollectorRegistry`` to read values that no other
    service touched. ``ImportError`` (with ``INSTALL_HINT``) without prometheus_client.
    """

    def __init__(self, registry: Any = None) -> None:
        prometheus = client()
        if prometheus is None:
            raise ImportError(INSTALL_HINT)
        self.registry = prometheus.REGISTRY if registry is None else registry
        labels = ("service",)
        self.submissions = prometheus.Counter(
            "asynctask_submissions", "Submissions decided, by outcome.", labels + ("outcome",),
            registry=self.registry,
        )  # fmt: skip
        self.finished = prometheus.Counter(
            "asynctask_tasks_finished", "Running tasks recorded success or failed.", labels + ("status",),
            registry=self.registry,
        )  # fmt: skip
        self.run_seconds = prometheus.Histogram(
            "asynctask_task_run_seconds", "Seconds from the start to the end of an attempt.", labels,
            buckets=BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.queue_seconds = prometheus.Histogram(
            "asynctask_task_queue_seconds", "Seconds an attempt waited in the executor before it started.",
            labels, buckets=BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.in_flight = prometheus.Gauge(
            "asynctask_tasks_in_flight", "Attempts handed to the executor and not done, by state.",
            labels + ("state",), multiprocess_mode="livesum", registry=self.registry,
        )  # fmt: skip
        self.store_errors = prometheus.Counter(
            "asynctask_store_errors", "Calls to the task store that failed (down, connection or I/O).",
            labels, registry=self.registry,
        )  # fmt: skip

    def for_service(self, name: str) -> ServiceMetrics:
        """The ``Metrics`` of the service named ``name`` (its class name)."""
        return ServiceMetrics(self, name)

    def exposition(self) -> tuple[bytes, str]:
        """The text a scrape reads; in multiprocess mode, every process's values summed."""
        prometheus = client()
        registry = self.registry
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            registry = prometheus.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        return prometheus.generate_latest(registry), prometheus.CONTENT_TYPE_LATEST


def default_metrics() -> PrometheusMetrics:
    """The families in prometheus_client's default registry, made once (``ImportError`` without it)."""
    global _default
    if client() is None:  # asked each time: it may have been uninstalled, or hidden by a test
        raise ImportError(INSTALL_HINT)
    with _default_lock:
        if _default is None:
            _default = PrometheusMetrics()
        return _default


class ServiceMetrics(Metrics):
    """One service's metrics: each labelled child is looked up once, here, not at every event."""

    def __init__(self, families: PrometheusMetrics, name: str) -> None:
        super().__init__(unavailable=None)
        self.families = families
        self._outcomes = {kind: families.submissions.labels(name, kind) for kind in SUBMISSION_OUTCOMES}
        self._statuses = {kind: families.finished.labels(name, kind) for kind in ("success", "failed")}
        self._waiting, self._running = (families.in_flight.labels(name, state) for state in IN_FLIGHT_STATES)
        self._run_seconds = families.run_seconds.labels(name)
        self._queue_seconds = families.queue_seconds.labels(name)
        self._store_errors = families.store_errors.labels(name)

    def submitted(self, outcome: str) -> None:
        self._outcomes[outcome].inc()

    def queued(self) -> None:
        self._waiting.inc()

    def started(self, queue_seconds: float) -> None:
        self._waiting.dec()
        self._running.inc()
        self._queue_seconds.observe(max(queue_seconds, 0.0))  # another host's clock may be behind

    def ended(self, run_seconds: float | None) -> None:
        if run_seconds is None:
            self._waiting.dec()
        else:
            self._running.dec()
            self._run_seconds.observe(max(run_seconds, 0.0))

    def finished(self, status: str) -> None:
        self._statuses[status].inc()

    def store_error(self) -> None:
        self._store_errors.inc()

    def exposition(self) -> tuple[bytes, str]:
        return self.families.exposition()
