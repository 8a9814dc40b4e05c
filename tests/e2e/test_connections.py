"""The real command-line server under many short connections: descriptors and threads stay flat."""

from __future__ import annotations

import http.client
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.server import ROOT, Server, request

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads /proc (Linux)")
REQUESTS, WARM_UP, CLIENTS = 2000, 200, 4


def get_on_new_connections(server: Server, path: str, count: int) -> list[int]:
    """``count`` GETs of ``path``, each on a connection of its own, from CLIENTS threads: the statuses."""

    def one(_: int) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            connection.request("GET", path)
            answer = connection.getresponse()
            answer.read()
            return answer.status
        finally:
            connection.close()

    with ThreadPoolExecutor(CLIENTS) as clients:
        return list(clients.map(one, range(count)))


def assert_flat(server: Server, path: str) -> None:
    assert set(get_on_new_connections(server, path, WARM_UP)) == {200}
    before = server.resources()
    assert set(get_on_new_connections(server, path, REQUESTS)) == {200}
    after = server.resources()
    # A descriptor or a thread per connection would add thousands.
    assert after["fds"] <= before["fds"] + 10, (before, after)
    assert after["threads"] <= before["threads"] + 2, (before, after)


def test_the_demo_keeps_descriptors_and_threads_flat_over_2000_connections(tmp_path):
    server = Server(["demo"], cwd=tmp_path)
    try:
        request("POST", f"{server.base}/api", {"data": {"n": 1001}})
        server.wait_status("factor-1001")
        assert_flat(server, "/api?task_id=factor-1001")
    finally:
        output = server.stop()
        print(output)  # shown by pytest if the test fails
    assert server.process.returncode == 0


def test_serve_on_sqlite_keeps_descriptors_and_threads_flat_over_2000_connections(tmp_path):
    store = f"sqlite:///{tmp_path / 'tasks.db'}"
    args = ["serve", "tests.e2e.sample_app:Echo", "--store", store, "--log-dir", str(tmp_path / "logs")]
    server = Server(args, cwd=ROOT)
    try:
        code, answer = request("POST", f"{server.base}/api", {"data": {"n": 7}})
        task_id = answer["data"]["task_id"]
        assert code == 200 and server.wait_status(task_id)["result"] == 7
        assert_flat(server, f"/api?task_id={task_id}")
    finally:
        output = server.stop()
        print(output)
    assert server.process.returncode == 0
