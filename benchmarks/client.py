"""The load clients: 8 keep-alive connections from Python threads, and wrk for status GETs."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from attrs import frozen

CONNECTIONS = 8
_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:\s*close", re.IGNORECASE)
#: wrk prints one JSON line from this script when it is done.
_WRK_SCRIPT = """
local ids = tonumber(os.getenv("BENCH_IDS") or "0")
local pattern = os.getenv("BENCH_PATTERN") or ""
if ids > 0 then
  request = function()
    return wrk.format("GET", string.format(pattern, math.random(0, ids - 1)))
  end
end
done = function(summary, latency, requests)
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "non2xx": %d, "errors": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


class Connection:
    """One keep-alive HTTP/1.1 connection, kept lean so the client spends little CPU per request."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._sock: socket.socket | None = None
        self._buffer = b""

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        """Send one request and answer ``(status code, decoded JSON body)``; reconnects once if dropped."""
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(payload)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        message = head.encode() + b"\r\n" + payload
        try:
            status, raw = self._exchange(message)
        except ConnectionError:  # the server closed an idle keep-alive connection: once more, afresh
            self.close()
            status, raw = self._exchange(message)
        return status, json.loads(raw)

    def close(self) -> None:
        """Close the socket; the next request opens a new one."""
        if self._sock is not None:
            self._sock.close()
        self._sock, self._buffer = None, b""

    def _exchange(self, message: bytes) -> tuple[int, bytes]:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), timeout=30)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.sendall(message)
        return self._read_answer()

    def _read_answer(self) -> tuple[int, bytes]:
        buffer = self._buffer
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            buffer += self._receive()
        head, start = buffer[:end], end + 4
        length = int(_LENGTH.search(head).group(1))
        while len(buffer) < start + length:
            buffer += self._receive()
        self._buffer = buffer[start + length :]
        if _CLOSE.search(head):
            self.close()
        return int(head[9:12]), buffer[start : start + length]

    def _receive(self) -> bytes:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        return chunk


@frozen
class Run:
    """What one parallel run gave: the answers, the wall time, and the client's own CPU time."""

    results: list
    seconds: float
    client_cpu: float

    @property
    def client_load(self) -> float:
        """Client CPU per wall second: 1.0 is one core busy with the client alone."""
        return self.client_cpu / self.seconds


def run_parallel(
    base: tuple[str, int],
    items: Sequence,
    work: Callable[[Connection, Any], Any],
    connections: int = CONNECTIONS,
) -> Run:
    """``work(connection, item)`` for every item, over ``connections`` threads with a connection each."""
    shards = [list(items[index::connections]) for index in range(connections)]
    results: list[list] = [[] for _ in shards]
    clients = [Connection(*base) for _ in shards]
    failures: list[BaseException] = []

    def drive(index: int) -> None:
        try:
            results[index] = [work(clients[index], item) for item in shards[index]]
        except BaseException as exc:  # reported below, in the calling thread
            failures.append(exc)

    threads = [threading.Thread(target=drive, args=(index,)) for index in range(len(shards))]
    cpu, start = time.process_time(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    for client in clients:
        client.close()
    if failures:
        raise failures[0]
    return Run([result for shard in results for result in shard], seconds, cpu)


def python_get_for(base: tuple[str, int], paths: Sequence[str], seconds: float) -> dict:
    """GET ``paths`` in turn over 8 connections for ``seconds`` from Python (without wrk).

    Answers requests/s, p50 and p99 latency (ms) and the client's CPU per wall
    second; any answer but 200 raises.
    """
    latencies: list[list[float]] = [[] for _ in range(CONNECTIONS)]

    def drive(connection: Connection, index: int) -> None:
        deadline, mine = time.perf_counter() + seconds, latencies[index]
        step = 0
        while time.perf_counter() < deadline:
            path = paths[(index + step * CONNECTIONS) % len(paths)]
            start = time.perf_counter()
            code, answer = connection.request("GET", path)
            mine.append(time.perf_counter() - start)
            if code != 200:
                raise RuntimeError(f"GET {path} answered {code}: {answer}")
            step += 1

    run = run_parallel(base, range(CONNECTIONS), drive)
    found = sorted(latency for shard in latencies for latency in shard)
    return {
        "requests_per_s": len(found) / run.seconds,
        "requests": len(found),
        "p50_ms": found[len(found) // 2] * 1000,
        "p99_ms": found[int(len(found) * 0.99)] * 1000,
        "client_load": run.client_load,
    }


def have_wrk() -> bool:
    """Whether the wrk load generator is installed."""
    return shutil.which("wrk") is not None


def run_counted(command: list[str], env: dict) -> tuple[str, int, float]:
    """Run ``command`` to its end: its output (stdout and stderr), exit status, and CPU seconds.

    The CPU time is the command's own (``wait4``), whatever other children
    of this process end meanwhile.
    """
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    process.stdout.close()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return output, process.returncode, usage.ru_utime + usage.ru_stime


def wrk_get(base: tuple[str, int], path: str, seconds: int, ids: int = 0) -> dict:
    """GET ``path`` with wrk for ``seconds`` over 8 connections; with ``ids``, ``path % random id``.

    Answers requests/s, p50 and p99 latency (ms), and wrk's own CPU per wall second.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT)
    host, port = base
    url = f"http://{host}:{port}{path if not ids else '/'}"
    env = {**os.environ, "BENCH_IDS": str(ids), "BENCH_PATTERN": path}
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s", "-s", script.name, url]
    try:
        output, code, cpu = run_counted(command, env)
    finally:
        os.unlink(script.name)
    if code != 0:
        raise RuntimeError(f"wrk exited with {code}:\n{output[-2000:]}")
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    figures = json.loads(line[len("BENCH ") :])
    if figures["non2xx"] or figures["errors"]:
        raise RuntimeError(f"wrk saw failed requests on {url}: {figures}")
    wall = figures["duration_us"] / 1e6
    return {
        "requests_per_s": figures["requests"] / wall,
        "requests": figures["requests"],
        "p50_ms": figures["p50_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "client_load": cpu / wall,
    }
