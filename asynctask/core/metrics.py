"""The metrics port: what a service tells about itself as it works, for a metrics adapter to count.

The service calls one method per event, always in its own process (the one
that decided, dispatched and recorded), never where a task runs elsewhere;
so each event is counted once. ``Metrics`` itself counts nothing: it is the
default when metrics are off, and each call costs one empty method call.
"""

from __future__ import annotations

#: ``submitted(outcome)``: a new task, one kept as it is (same id, still running or fresh), one run again.
SUBMISSION_OUTCOMES = ("created", "deduplicated", "rerun")
#: ``in_flight`` states of an attempt handed to the executor here.
IN_FLIGHT_STATES = ("waiting", "running")
#: Why a service built with ``metrics=False`` has no metrics to show.
OFF = "metrics are off for this service (it was built with metrics=False)"


class Metrics:
    """The events of one service; the methods do nothing here, an adapter counts them."""

    def __init__(self, unavailable: str | None = OFF) -> None:
        #: Why ``exposition`` has nothing to answer (``GET /metrics`` says it); ``None`` when it has.
        self.unavailable = unavailable

    def submitted(self, outcome: str) -> None:
        """A submission was decided here: ``created``, ``deduplicated`` or ``rerun``."""

    def queued(self) -> None:
        """An attempt was handed to the executor: it waits to start."""

    def started(self, queue_seconds: float) -> None:
        """An attempt began ``queue_seconds`` after it was handed to the executor."""

    def ended(self, run_seconds: float | None) -> None:
        """An attempt handed over here is done: ran ``run_seconds``, or never started (``None``)."""

    def finished(self, status: str) -> None:
        """A running task was recorded ``success`` or ``failed`` (an attempt that is retried is not)."""

    def store_error(self) -> None:
        """A call to the store failed: it was down, or a connection or I/O error."""

    def exposition(self) -> tuple[bytes, str]:
        """The metrics as a scrape reads them, and their content type; only when ``unavailable`` is None."""
        raise LookupError(self.unavailable)


#: The metrics of a service built with ``metrics=False``: nothing is counted.
NO_METRICS = Metrics()
