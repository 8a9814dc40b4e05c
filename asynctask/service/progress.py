"""Progress of running tasks: ``progress(fraction, message)`` inside ``main``, written to the store coalesced.

A ``main`` that declares a ``progress`` parameter gets a ``ProgressLink``.
In this process it hands each report to the service's ``ProgressBoard``;
pickled for another process (a process pool, Dask), it becomes a
``RemoteProgress`` that sends reports back over a local TCP connection
opened with the board's secret (JSON lines, each answered). The board keeps the latest report
of each attempt and writes it at most every ``WRITE_EVERY`` seconds, and the
last one before the outcome. A report of an attempt that was cancelled,
timed out or rerun raises ``TaskCancelledError`` inside ``main``, so a
thread stops at its next report.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from numbers import Real
from typing import Any

from attrs import frozen

from asynctask.core import TaskCancelledError
from asynctask.core.task import PROGRESS_FIELD
from asynctask.service.recording import Recorder

_log = logging.getLogger("asynctask")
#: Seconds between two writes of one task's progress: at most about two a second.
WRITE_EVERY = 0.5
#: Seconds between two reports a process other than the service's sends it.
SEND_EVERY = 0.25
#: Seconds a process waits for the service to take a report; a peer has to open the connection.
SEND_TIMEOUT = HANDSHAKE_TIMEOUT = 5.0
#: Seconds ``finish`` waits for a progress write under way before it writes the last one.
WRITE_TIMEOUT = 10.0
#: The longest message kept; a longer one is cut.
MESSAGE_LIMIT = 500

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
        self._writing: dict[Key, threading.Event] = {}  # writes under way, set when done
        self._items: dict[Key, Any] = {}  # the attempts in flight, to tell whether they were stopped
        self._changed = threading.Condition()
        self._writer: threading.Thread | None = None
        self._server: socket.socket | None = None
        self._peers: set[socket.socket] = set()
        self._secret = secrets.token_hex(32)
        self._closed = False
        #: Told of an attempt in another process that was let start (``Attempts`` counts it running).
        self.on_start: Callable[[Any], None] = lambda item: None

    def link(self, item: Any) -> ProgressLink:
        """The ``progress`` callable of one attempt in flight here."""
        with self._changed:
            self._items[(item.task_id, item.attempt)] = item
        return ProgressLink(self, item.task_id, item.attempt)

    def start_check(self, item: Any) -> StartCheck:
        """What an attempt sent to another process asks before it starts: may it still?"""
        with self._changed:
            self._items[(item.task_id, item.attempt)] = item
        return StartCheck(self, item.task_id, item.attempt)

    def may_start(self, key: Key) -> bool:
        """The attempt is still in flight here and was not stopped, timed out or rerun.

        A yes is told to ``on_start``: the attempt starts now, in another process.
        """
        with self._changed:  # under the lock ``finish`` takes: a start is told before the end, or not at all
            item = self._items.get(key)
            allowed = item is not None and stop_reason(item) is None
            if allowed:
                self.on_start(item)
        return allowed

    def report(self, key: Key, report: Report) -> str | None:
        """Keep ``report`` as the attempt's latest; why it must stop, or ``None`` if it runs on."""
        with self._changed:
            item = self._items.get(key)
            if item is None:
                return "the attempt is over"
            if key not in self._pending and key not in self._written:
                # A first report waits like any other: a short task's progress goes with its outcome.
                self._written[key] = time.monotonic()
            self._pending[key] = report
            if self._writer is None and not self._closed:
                self._writer = threading.Thread(
                    target=self._write_loop, name="asynctask-progress", daemon=True
                )
                self._writer.start()
            self._changed.notify()
        return stop_reason(item)

    def finish(self, key: Key, *, write: bool = True) -> Report | None:
        """The attempt ended: its last progress goes to the store before its outcome.

        ``write=False``: the last report not written yet is answered instead,
        for the outcome's own write to carry (one write, not two).
        """
        with self._changed:
            report = self._pending.pop(key, None)
            self._items.pop(key, None)
            self._written.pop(key, None)
            under_way = self._writing.get(key)
        if under_way is not None:  # an older report being written: it must land first
            under_way.wait(WRITE_TIMEOUT)
        if report is not None and write:
            self._write(key, report)
            return None
        return report

    def address(self) -> tuple[Any, str] | None:
        """Where other processes send reports, and the secret they open with; ``None`` once closed."""
        with self._changed:
            if self._closed:
                return None
            if self._server is None:
                self._server = socket.create_server(("127.0.0.1", 0))
                threading.Thread(
                    target=self._accept_loop, args=(self._server,), name="asynctask-progress-in", daemon=True
                ).start()
            return self._server.getsockname(), self._secret

    def close(self) -> None:
        """Write what is pending, stop the writer, and stop listening (open connections are closed)."""
        with self._changed:
            self._closed = True
            pending, self._pending = dict(self._pending), {}
            self._changed.notify_all()
            server, self._server = self._server, None
            peers, self._peers = set(self._peers), set()
        for key, report in pending.items():
            self._write(key, report)
        for sock in [*([server] if server is not None else []), *peers]:
            _hang_up(sock)

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
                    self._writing[key] = threading.Event()
                wait = 0.0 if due else WRITE_EVERY - max(now - self._written[k] for k in self._pending)
            for key, report in due.items():
                try:
                    self._write(key, report)
                finally:
                    with self._changed:
                        self._writing.pop(key).set()
            if wait > 0:
                with self._changed:
                    self._changed.wait(wait)

    def _write(self, key: Key, report: Report) -> None:
        task_id, attempt = key
        field = report.as_field()
        try:
            self.recorder.change_attempt(
                task_id, attempt, lambda t, now: t.updated({PROGRESS_FIELD: field}, now)
            )
        except Exception as exc:  # the next report writes it again; the outcome does not wait on it
            _log.warning("could not record the progress of task %s attempt %d: %s", task_id, attempt, exc)

    def _accept_loop(self, server: socket.socket) -> None:
        while True:
            try:
                peer, _ = server.accept()
            except OSError:  # closed
                return
            with self._changed:
                if self._closed:
                    _hang_up(peer)
                    return
                self._peers.add(peer)
            threading.Thread(
                target=self._serve, args=(peer,), name="asynctask-progress-peer", daemon=True
            ).start()

    def _serve(self, peer: socket.socket) -> None:
        """Reports from one other process, each answered with why its attempt must stop (or ``None``)."""
        try:
            peer.settimeout(HANDSHAKE_TIMEOUT)  # a peer that says nothing cannot hold this thread
            stream = peer.makefile("rwb")
            opening = stream.readline(len(self._secret) + 2).strip().decode("ascii", "replace")
            if not hmac.compare_digest(opening, self._secret):
                return
            peer.settimeout(None)
            for line in stream:
                message = json.loads(line)
                if message[0] == "start":  # ["start", task_id, attempt]: may it start?
                    answer: Any = self.may_start((str(message[1]), int(message[2])))
                else:  # [task_id, attempt, fraction, message, time]: a progress report
                    task_id, attempt, fraction, text, when = message
                    report = Report(fraction, text, datetime.fromisoformat(when))
                    answer = self.report((str(task_id), int(attempt)), report)
                stream.write(json.dumps(answer).encode() + b"\n")
                stream.flush()
        except (OSError, ValueError, TypeError):  # gone, timed out, or not our protocol: drop this peer
            pass
        finally:
            with self._changed:
                self._peers.discard(peer)
            _hang_up(peer)


def _hang_up(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept() or recv() on it
    except OSError:
        pass
    sock.close()


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
        return (RemoteProgress, (self._board.address(), *self._key))


class StartCheck:
    """Asked before an attempt in another process starts; pickled, a ``RemoteStartCheck``."""

    def __init__(self, board: ProgressBoard, task_id: str, attempt: int) -> None:
        self._board, self._key = board, (task_id, attempt)

    def __call__(self) -> bool:
        return self._board.may_start(self._key)

    def __reduce__(self):
        return (RemoteStartCheck, (self._board.address(), *self._key))


class RemoteStartCheck:
    """In another process: ask the service whether the attempt may still start (yes if it cannot be asked)."""

    def __init__(self, where: tuple[Any, str] | None, task_id: str, attempt: int) -> None:
        self.where, self._key = where, (task_id, attempt)

    def __call__(self) -> bool:
        if self.where is None:
            return True
        answer = _send(self.where, ["start", *self._key])
        return answer is not False  # unreachable (None): run; its outcome is fenced if it was ended


class RemoteProgress:
    """``progress`` in another process: reports go back to the service at most every ``SEND_EVERY`` s."""

    def __init__(self, where: tuple[Any, str] | None, task_id: str, attempt: int) -> None:
        self.where, self._key = where, (task_id, attempt)
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
        if report is None or self.where is None:  # nothing new, or the service stopped listening
            return
        self._sent = time.monotonic()
        message = [*self._key, report.fraction, report.message, report.time.isoformat()]
        reason = _send(self.where, message)
        if reason is not None:
            self._reason = reason


_connections: dict[Any, Any] = {}  # per service address: this process's stream to it, or None if unreachable
_connections_lock = threading.Lock()


def _send(where: tuple[Any, str], message: list) -> str | None:
    """Send one report on this process's connection to the service; its answer, or ``None``."""
    address, secret = where
    key = tuple(address)
    with _connections_lock:
        stream = _connections.get(key, ...)
        if stream is ...:
            stream = _connections[key] = _connect(key, secret)
        if stream is None:
            return None
        try:
            stream.write(json.dumps(message).encode() + b"\n")
            stream.flush()
            answer = stream.readline()
            if not answer:
                raise EOFError("the service closed the connection")
            return json.loads(answer)
        except (OSError, EOFError, ValueError) as exc:
            _log.warning("progress reports to the service stopped: %s", exc)
            _connections[key] = None
            return None


def _connect(address: tuple, secret: str) -> Any:
    try:
        sock = socket.create_connection(address, timeout=SEND_TIMEOUT)
        stream = sock.makefile("rwb")
        stream.write(secret.encode("ascii") + b"\n")
        stream.flush()
        return stream
    except OSError as exc:  # a machine that cannot reach the service: progress is not reported
        _log.warning("progress cannot be reported to the service at %s: %s", address, exc)
        return None
