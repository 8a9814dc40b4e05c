"""Starting ``asynctask`` in a subprocess and talking to it over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Server:
    """``python -m asynctask ARGS --port P`` in a subprocess, ready when /ping answers."""

    def __init__(self, args: list[str], cwd: Path, env: dict | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "asynctask", *args, "--port", str(self.port)]
        environment = {**os.environ, "PYTHONPATH": str(ROOT), "DISABLE_STREAM_HANDLER": "1", **(env or {})}
        # A file, not a pipe: a server that logs more than a pipe holds must never block on it.
        self.log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: the gunicorn arbiter and its workers
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited {self.process.returncode}:\n{self.output()}")
            try:
                if request("GET", f"{self.base}/ping")[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("server did not answer /ping in time")

    def wait_status(self, task_id: str, endpoint: str = "/api", timeout: float = 20.0) -> dict:
        deadline, answer = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            code, answer = request("GET", f"{self.base}{endpoint}?task_id={task_id}")
            if code == 200 and answer["data"]["status"] != "running":
                return answer["data"]
            time.sleep(0.05)
        raise AssertionError(f"task {task_id} still running after {timeout} s: {answer}")

    def stop(self, signal_number: int = signal.SIGTERM) -> str:
        """Signal the server (``kill PID``) and answer what it printed; SIGKILL kills every process of it."""
        if self.process.poll() is None:
            if signal_number == signal.SIGKILL:  # the machine or the OOM killer: workers die too
                os.killpg(self.process.pid, signal.SIGKILL)
            else:
                self.process.send_signal(signal_number)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a hang: end it, and show what it printed
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            raise AssertionError(f"the server did not stop within 30 s:\n{self.output()[-6000:]}") from None
        return self.output()

    def output(self) -> str:
        """What the server printed so far."""
        self.log.seek(0)
        return self.log.read()

    def processes(self) -> list[int]:
        """The process ids of the server: the arbiter and its workers."""
        return [
            int(pid)
            for pid in os.listdir("/proc")
            if pid.isdigit() and _session(int(pid)) == self.process.pid
        ]

    def resources(self) -> dict:
        """Open descriptors and threads of every process of the server, from ``/proc``."""
        fds = threads = 0
        for pid in self.processes():
            try:
                fds += len(os.listdir(f"/proc/{pid}/fd"))
                threads += len(os.listdir(f"/proc/{pid}/task"))
            except FileNotFoundError:  # it ended meanwhile
                pass
        return {"fds": fds, "threads": threads}


def _session(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def serve_recorder(tmp_path: Path, *extra: str) -> tuple[Server, Path]:
    """``asynctask serve`` of the sample Recorder on SQLite in ``tmp_path``, and its folder of run marks."""
    runs = tmp_path / "runs"
    runs.mkdir(exist_ok=True)
    store = f"sqlite:///{tmp_path / 'tasks.db'}"
    args = ["serve", "tests.e2e.sample_app:Recorder", "--store", store, "--log-dir", str(tmp_path / "logs")]
    return Server([*args, *extra], cwd=ROOT, env={"RECORDER_DIR": str(runs)}), runs


def run_script(path: Path, source: str) -> subprocess.CompletedProcess:
    """Write ``source`` to ``path`` and run it with this Python, in its folder, as a user would."""
    path.write_text(source, encoding="utf-8")
    return subprocess.run(
        [sys.executable, path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "DISABLE_STREAM_HANDLER": "1", "PATH": "/usr/bin:/bin"},
    )
