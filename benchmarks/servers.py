"""Serving every contestant the same way: gunicorn, gthread, 8 threads, 127.0.0.1, a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

from attrs import field, frozen

ROOT = Path(__file__).resolve().parents[1]


@frozen
class Contestant:
    """One row: a gunicorn app spec, its environment (``{dir}``: its own folder), its worker processes."""

    name: str
    app: str
    env: dict = field(factory=dict)
    workers: int = 1


@frozen
class Served:
    """A running contestant: its name, address, process and gunicorn's log file."""

    name: str
    host: str
    port: int
    process: subprocess.Popen
    log: str

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def python_env() -> dict:
    """The environment of every Python process a run starts: this tree's ``benchmarks`` importable.

    ``BENCH_ASYNCTASK_PATH``: asynctask from another source tree (a change to measure).
    """
    path = os.pathsep.join(filter(None, [os.environ.get("BENCH_ASYNCTASK_PATH"), str(ROOT)]))
    return {**os.environ, "PYTHONPATH": path, "DISABLE_STREAM_HANDLER": "1"}


@contextmanager
def serve_all(contestants: list[Contestant], workdir: str, boot_timeout: float = 300.0):
    """Start every contestant at once, wait until each answers ``/ping``, stop them all after."""
    with ExitStack() as stack:
        started = [_start(contestant, workdir) for contestant in contestants]
        for served in started:
            stack.callback(_stop, served)
        for served in started:
            _wait_ready(served, boot_timeout)
        yield {served.name: served for served in started}


def _start(contestant: Contestant, workdir: str) -> Served:
    port = free_port()
    folder = tempfile.mkdtemp(prefix=f"{_slug(contestant.name)}-", dir=workdir)
    own = {key: value.replace("{dir}", folder) for key, value in contestant.env.items()}
    env = {**python_env(), **own}
    env.setdefault("BENCH_LOG_DIR", os.path.join(folder, "logs"))
    command = [sys.executable, "-m", "gunicorn", "-w", str(contestant.workers), "--threads", "8"]
    command += ["-k", "gthread", "-b", f"127.0.0.1:{port}", "--keep-alive", "30"]
    command += ["--timeout", "600", "--log-level", "warning", contestant.app]
    log = os.path.join(folder, "gunicorn.log")
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT)
    return Served(contestant.name, "127.0.0.1", port, process, log)


def _wait_ready(served: Served, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise RuntimeError(
                f"{served.name}: gunicorn exited with {served.process.returncode}:\n{_log_tail(served)}"
            )
        try:
            with urllib.request.urlopen(f"{served.base}/ping", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{served.name}: no answer on /ping after {timeout:.0f} s:\n{_log_tail(served)}")


def _log_tail(served: Served, lines: int = 20) -> str:
    with open(served.log) as log:
        return "".join(log.readlines()[-lines:])


def _stop(served: Served) -> None:
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGTERM)
    try:
        served.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait()


def _slug(name: str) -> str:
    return "".join(char if char.isalnum() else "-" for char in name)
