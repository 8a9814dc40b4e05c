"""Soak through the real command-line server: thousands of POSTs over keep-alive connections."""

from __future__ import annotations

import http.client
import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.server import ROOT, Server

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads /proc (Linux)")
CLIENTS, FIRST, TASKS, SAMPLE = 8, 200, 2000, 200


def rss(server: Server) -> int:
    """Resident memory of every process of the server, in bytes."""
    total = 0
    for pid in server.processes():
        with open(f"/proc/{pid}/status") as status:
            total += next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
    return total


def post_all(server: Server, numbers: range) -> list[str]:
    """POST ``{"n": n}`` for each number over CLIENTS keep-alive connections; the task ids answered."""

    def client(part: range) -> list[str]:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        ids = []
        for n in part:
            body = json.dumps({"data": {"n": n}})
            connection.request("POST", "/api", body, {"Content-Type": "application/json"})
            answer = connection.getresponse()
            assert answer.status == 200
            ids.append(json.loads(answer.read())["data"]["task_id"])
        connection.close()
        return ids

    parts = [numbers[index::CLIENTS] for index in range(CLIENTS)]
    with ThreadPoolExecutor(CLIENTS) as clients:
        return [task_id for ids in clients.map(client, parts) for task_id in ids]


@pytest.fixture
def server(tmp_path):
    store = f"sqlite:///{tmp_path / 'tasks.db'}"
    args = ["serve", "tests.e2e.sample_app:Echo", "--store", store, "--log-dir", str(tmp_path / "logs")]
    server = Server(args, cwd=ROOT)
    yield server
    print(server.stop(signal.SIGTERM))  # shown by pytest if the test fails


def test_2000_posts_on_sqlite_leave_descriptors_threads_and_memory_flat(server):
    post_all(server, range(FIRST))
    first = {**server.resources(), "rss": rss(server)}
    ids = post_all(server, range(FIRST, TASKS))
    last = {**server.resources(), "rss": rss(server)}
    assert last["fds"] <= first["fds"] + 10, (first, last)
    assert last["threads"] <= first["threads"] + 2, (first, last)
    assert last["rss"] - first["rss"] < 32 * 1024 * 1024, (first, last)  # nothing kept per task
    for task_id in ids[:: len(ids) // SAMPLE]:
        assert server.wait_status(task_id)["status"] == "success"
