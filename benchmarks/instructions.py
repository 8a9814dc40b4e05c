"""What a feature costs per job, in CPU instructions of the server: counted by valgrind, not timed.

Wall-clock ratios on a shared 2-core machine move by about 10% from round
to round, more than the 3% a feature may cost. Instructions do not:
valgrind's callgrind counts every instruction the server runs, the same
from run to run within about 0.3% (threads are serialised, so a few waits
differ).

Each variant is served as in the features section (gunicorn, 1 worker of 8
threads, ``benchmarks.apps`` with ``BENCH_TASK``), under callgrind, on the
memory store (where a feature's share of a job is largest). This process
submits ``jobs`` no-op jobs, polls each to success, and stops the server;
the instructions of its processes are summed. It runs twice, with ``SMALL``
and ``LARGE`` jobs: the difference over the difference in jobs is the cost
of one job, start-up and imports cancelled out.

``python -m benchmarks --only instructions`` (needs valgrind: ``apt-get install valgrind``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchmarks import workloads
from benchmarks.apps import MULTIPROCESS
from benchmarks.client import Connection
from benchmarks.servers import free_port, python_env

SMALL, LARGE = 50, 250
_COLLECTED = re.compile(r"Collected : (\d+)")


def have_valgrind() -> bool:
    return shutil.which("valgrind") is not None


def instructions_section(variants: list[str], workdir: str) -> dict[str, list[dict]]:
    """``{"memory <variant>": [{"instructions_per_job": n}]}``: one round, as the count does not move."""
    rows = {}
    for variant in variants:
        small, large = (_count(variant, jobs, workdir) for jobs in (SMALL, LARGE))
        per_job = (large - small) / (LARGE - SMALL)
        rows[f"memory {variant}"] = [{"instructions_per_job": per_job}]
        print(f"  memory {variant}: {per_job / 1e6:.3f} M instructions per job", flush=True)
    return rows


def _count(variant: str, jobs: int, workdir: str) -> int:
    """Serve ``variant`` under callgrind, run ``jobs`` jobs through it, stop it: its instructions."""
    folder = tempfile.mkdtemp(prefix=f"instructions-{variant}-", dir=workdir)
    env = {**python_env(), "BENCH_STORE": "memory://", "BENCH_TASK": variant}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # only the multiprocess variant counts in files
    env["BENCH_LOG_DIR"] = os.path.join(folder, "logs")
    if variant in MULTIPROCESS:  # as under asynctask serve with several workers
        env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="metrics-", dir=folder)
    port = free_port()
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/callgrind.%p"]
    command += [sys.executable, "-m", "gunicorn", "-w", "1", "--threads", "8", "-k", "gthread"]
    command += ["-b", f"127.0.0.1:{port}", "--timeout", "600", "--log-level", "warning"]
    command.append("benchmarks.apps:create()")
    log = os.path.join(folder, "server.log")
    with open(log, "w") as output:
        server = subprocess.Popen(command, cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_ready(server, port)
        connection = Connection("127.0.0.1", port)
        ids = [workloads.submit(connection, {}) for _ in range(jobs)]
        for task_id in ids:
            workloads.wait_done(connection, task_id, pause=0.01)
        connection.close()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=300)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            raise
    with open(log) as output:
        counts = [int(found) for found in _COLLECTED.findall(output.read())]
    if len(counts) != 2:  # the arbiter and its one worker: a restarted worker would skew the count
        raise RuntimeError(f"{variant} under callgrind reported {counts}, not 2 processes; see {log}")
    return sum(counts)


def _wait_ready(server: subprocess.Popen, port: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server under callgrind exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("the server under callgrind did not answer /ping")
