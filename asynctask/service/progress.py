"""Progress of running tasks: ``progress(fraction, message)`` inside ``main``, written to the store coalesced.

A ``main`` that declares a ``progress`` parameter gets a ``ProgressLink``.
In this process it hands each report to the service's ``ProgressBoard``;
pickled for another process (a process pool, Dask), it becomes a
``RemoteProgress`` that sends reports back over an authenticated local
socket (``multiprocessing.connection``). The board keeps the latest report
of each attempt and writes it at most every ``WRITE_EVERY`` seconds, and the
last one before the outcome. A report of an attempt that was cancelled,
timed out or rerun raises ``TaskCancelledError`` inside ``main``, so a
thread stops at its next report.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from datetime import datetime, timezone
from multiprocessing.connection import Client, Connection, Listener
from numbers import Real
from typing import Any

from attrs import frozen

from asynctask.core import TaskCancelledError
from asynctask.service.recording import Recorder

_log = logging.getLogger("asynctask")
#: Seconds between two writes of one task's progress: at most about two a second.
WRITE_EVERY = 0.5
#: Seconds between two reports a process other than the service's sends it.
SEND_EVERY = 0.25
#: The longest message kept; a longer one is cut.
MESSAGE_LIMIT = 500
#: The field of the task's detail that holds its progress.
FIELD = "progress"

#: ``(task_id, attempt)``: whose progress it is.
Key = tuple[str, int]


@frozen
class Report:
    """One call of ``progress``: how far, what it says, and when."""

    fraction: float | None
    message: str | None
    time: datetime

    def as_field(self) -> dict:
        """The value of the detail's ``progress`` field."""
        return {
            "fraction": self.fraction,
            "message": self.message,
            "time": self.time.isoformat(timespec="milliseconds"),
        }


def make_report(fraction: object = None, message: object = None) -> Report:
    """A report of ``progress(fraction, message)``, or ``ValueError`` saying what is wrong."""
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, Real):
            raise ValueError(f"progress fraction must be a number from 0 to 1, got {fraction!r}")
        fraction = float(fraction)
        if not (0.0 <= fraction <= 1.0) or math.isnan(fraction):
            raise ValueError(f"progress fraction must be from 0 to 1, got {fraction!r}")
    if message is not None:
        if not isinstance(message, str):
            raise ValueError(f"progress message must be a string, got {type(message).__name__}")
        message = message[:MESSAGE_LIMIT]
    return Report(fraction, message, datetime.now(timezone.utc))


class ProgressBoard:
    """The latest progress of the attempts running for one service, and the thread that writes it."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self._pending: dict[Key, Report] = {}
        self._written: dict[Key, float] = {}  # when each attempt's progress was last written (monotonic)
        self._items: dict[Key, Any] = {}  # the attempts in flight, to tell whether they were stopped
        self._changed = threading.Condition()
        self._writer: threading.Thread | None = None
        self._listener: Listener | None = None
        self._authkey = secrets.token_bytes(32)
        self._closed = False

    def link(self, item: Any) -> ProgressLink:
        """The ``progress`` callable of one attempt in flight here."""
        with self._changed:
            self._items[(item.task_id, item.attempt)] = item
        return ProgressLink(self, item.task_id, item.attempt)

    def report(self, key: Key, report: Report) -> str | None:
        """Keep ``report`` as the attempt's latest; why it must stop, or ``None`` if it runs on."""
        with self._changed:
            item = self._items.get(key)
            if item is None:
                return "the attempt is over"
            self._pending[key] = report
            if self._writer is None and not self._closed:
                self._writer = threading.Thread(
                    target=self._write_loop, name="asynctask-progress", daemon=True
                )
                self._writer.start()
            self._changed.notify()
        return stop_reason(item)

    def finish(self, key: Key) -> None:
        """The attempt ended: write its last progress now, before its outcome, and forget it."""
        with self._changed:
            report = self._pending.pop(key, None)
            self._items.pop(key, None)
            self._written.pop(key, None)
        if report is not None:
            self._write(key, report)

    def address(self) -> tuple[Any, bytes]:
        """Where other processes send reports, and the key they prove themselves with."""
        with self._changed:
            if self._listener is None:
                self._listener = Listener(("127.0.0.1", 0), authkey=self._authkey)
                threading.Thread(target=self._accept_loop, name="asynctask-progress-in", daemon=True).start()
            return self._listener.address, self._authkey

    def close(self) -> None:
        """Write what is pending, stop the writer and stop listening."""
        with self._changed:
            self._closed = True
            pending, self._pending = dict(self._pending), {}
            self._changed.notify_all()
            listener, self._listener = self._listener, None
        for key, report in pending.items():
            self._write(key, report)
        if listener is not None:
            listener.close()

    def _write_loop(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
                now = time.monotonic()
                due = {
                    k: r for k, r in self._pending.items() if now - self._written.get(k, 0.0) >= WRITE_EVERY
                }
                for key in due:
                    del self._pending[key]
                    self._written[key] = now
                wait = 0.0 if due else WRITE_EVERY - max(now - self._written[k] for k in self._pending)
            for key, report in due.items():
                self._write(key, report)
            if wait > 0:
                with self._changed:
                    self._changed.wait(wait)

    def _write(self, key: Key, report: Report) -> None:
        task_id, attempt = key
        field = report.as_field()
        try:
            self.recorder.change_attempt(task_id, attempt, lambda t, now: t.updated({FIELD: field}, now))
        except Exception as exc:  # the next report writes it again; the outcome does not wait on it
            _log.warning("could not record the progress of task %s attempt %d: %s", task_id, attempt, exc)

    def _accept_loop(self) -> None:
        listener = self._listener
        while listener is not None:
            try:
                connection = listener.accept()
            except (OSError, EOFError):  # closed, or a peer that failed the key
                if self._closed:
                    return
                continue
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: Connection) -> None:
        """Reports from one other process, each answered with why its attempt must stop (or ``None``)."""
        with connection:
            while True:
                try:
                    task_id, attempt, fraction, message, when = connection.recv()
                    reason = self.report((task_id, attempt), Report(fraction, message, when))
                    connection.send(reason)
                except (EOFError, OSError):
                    return
                except Exception:  # a malformed message: drop this peer
                    _log.exception("bad progress message; closing that connection")
                    return


def stop_reason(item: Any) -> str | None:
    """Why an attempt in flight must stop (cancelled, timed out, rerun), or ``None``."""
    if item.stopped:
        return item.stopped
    if item.timed_out:
        return "stopped: the task ran longer than task_timeout"
    if item.superseded:
        return "stopped: the task was submitted again"
    return None


class ProgressLink:
    """``progress(fraction=None, message=None)`` in the service's process; pickled, a ``RemoteProgress``."""

    def __init__(self, board: ProgressBoard, task_id: str, attempt: int) -> None:
        self._board, self._key = board, (task_id, attempt)

    def __call__(self, fraction: float | None = None, message: str | None = None) -> None:
        reason = self._board.report(self._key, make_report(fraction, message))
        if reason is not None:
            raise TaskCancelledError(reason)

    def flush(self) -> None:
        """Nothing to send: the board has every report already."""

    def __reduce__(self):
        address, authkey = self._board.address()
        return (RemoteProgress, (address, authkey, *self._key))


class RemoteProgress:
    """``progress`` in another process: reports go back to the service at most every ``SEND_EVERY`` s."""

    def __init__(self, address: Any, authkey: bytes, task_id: str, attempt: int) -> None:
        self.address, self._authkey, self._key = address, authkey, (task_id, attempt)
        self._pending: Report | None = None
        self._sent = 0.0
        self._reason: str | None = None

    def __call__(self, fraction: float | None = None, message: str | None = None) -> None:
        self._pending = make_report(fraction, message)
        if time.monotonic() - self._sent >= SEND_EVERY:
            self.flush()
        if self._reason is not None:
            raise TaskCancelledError(self._reason)

    def flush(self) -> None:
        """Send the report not sent yet, and wait for the answer (the last one goes before the outcome)."""
        report, self._pending = self._pending, None
        if report is None:
            return
        self._sent = time.monotonic()
        message = (*self._key, report.fraction, report.message, report.time)
        reason = _send(self.address, self._authkey, message)
        if reason is not None:
            self._reason = reason


_connections: dict[Any, Connection | None] = {}
_connections_lock = threading.Lock()


def _send(address: Any, authkey: bytes, message: tuple) -> str | None:
    """Send one report on this process's connection to ``address``; the answer, or ``None`` if unreachable."""
    with _connections_lock:
        connection = _connections.get(address, ...)
        if connection is ...:
            connection = _connections[address] = _connect(address, authkey)
        if connection is None:
            return None
        try:
            connection.send(message)
            return connection.recv()
        except (OSError, EOFError) as exc:
            _log.warning("progress reports to the service stopped: %s", exc)
            _connections[address] = None
            return None


def _connect(address: Any, authkey: bytes) -> Connection | None:
    try:
        return Client(address, authkey=authkey)
    except Exception as exc:  # a machine that cannot reach the service: progress is not reported
        _log.warning("progress cannot be reported to the service at %s: %s", address, exc)
        return None
