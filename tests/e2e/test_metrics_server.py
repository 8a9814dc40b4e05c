"""``asynctask serve --workers 2``: whichever worker answers a scrape, it counts every worker's work."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.server import ROOT, Server

pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

TASKS, MAX_TASKS, TOKEN = 40, 400, "scrape-token-of-the-e2e-server"


def call(server: Server, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
    """One request on a connection of its own (so gunicorn may hand it to either worker)."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(
        urllib.request.Request(server.base + path, data=data, method=method, headers=headers), timeout=10
    ) as answer:
        return answer.status, answer.read()


def scrape(server: Server) -> dict:
    status, body = call(server, "GET", "/metrics")
    assert status == 200
    return {
        (sample.name, tuple(sorted((k, v) for k, v in sample.labels.items() if k != "service"))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.labels.get("service") == "Recorder"
    }


def finished(server: Server, word: str) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        detail = json.loads(call(server, "GET", f"/api?task_id=word-{word}")[1])["data"]
        if detail["status"] != "running":
            return detail
        time.sleep(0.02)
    raise AssertionError(f"word-{word} still running")


@pytest.fixture
def server(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "tmp").mkdir()
    (tmp_path / "token").write_text(TOKEN)
    store = f"sqlite:///{tmp_path / 'tasks.db'}"
    args = ["serve", "tests.e2e.sample_app:Recorder", "--store", store, "--log-dir", str(tmp_path / "logs")]
    args += ["--workers", "2", "--token-file", str(tmp_path / "token")]
    env = {"RECORDER_DIR": str(tmp_path / "runs"), "TMPDIR": str(tmp_path / "tmp")}
    running = Server(args, cwd=ROOT, env=env)
    yield running
    running.stop()


def metrics_dirs(tmp_path) -> list:
    return list((tmp_path / "tmp").glob("asynctask-metrics-*"))


def test_every_scrape_counts_the_work_of_both_workers_and_the_directory_goes_at_exit(server, tmp_path):
    details: list = []
    with ThreadPoolExecutor(4) as clients:
        # The kernel may hand a light load to one worker only: go on until both have run some.
        while len({detail["result"]["pid"] for detail in details}) < 2:
            assert len(details) < MAX_TASKS, "one worker ran every task"
            words = [f"w{index}" for index in range(len(details), len(details) + TASKS)]
            posted = clients.map(lambda word: call(server, "POST", "/api", {"data": {"word": word}}), words)
            assert {status for status, _ in posted} == {200}
            details += clients.map(lambda word: finished(server, word), words)
    assert {detail["status"] for detail in details} == {"success"}
    total = len(details)

    for _ in range(6):  # each on a new connection: both workers answer some of them
        samples = scrape(server)
        assert samples[("asynctask_submissions_total", (("outcome", "created"),))] == total
        assert samples[("asynctask_tasks_finished_total", (("status", "success"),))] == total
        assert samples[("asynctask_task_run_seconds_count", ())] == total
        assert samples[("asynctask_tasks_in_flight", (("state", "running"),))] == 0
        assert samples[("asynctask_tasks_in_flight", (("state", "waiting"),))] == 0

    [directory] = metrics_dirs(tmp_path)
    assert list(directory.glob("counter_*.db"))
    server.stop()
    assert metrics_dirs(tmp_path) == []


def test_a_worker_that_dies_keeps_its_counts_and_drops_its_live_gauges(server, tmp_path):
    for word in ("a", "b", "c", "d"):
        call(server, "POST", "/api", {"data": {"word": word}})
        finished(server, word)
    [directory] = metrics_dirs(tmp_path)
    workers = [pid for pid in server.processes() if pid != server.process.pid]
    victim = next(pid for pid in workers if (directory / f"gauge_livesum_{pid}.db").exists())

    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while (directory / f"gauge_livesum_{victim}.db").exists():
        assert time.monotonic() < deadline, "child_exit did not mark the worker dead"
        time.sleep(0.05)
    server.wait_ready()

    assert scrape(server)[("asynctask_submissions_total", (("outcome", "created"),))] == 4


def test_one_worker_counts_in_its_memory_with_no_directory(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "tmp").mkdir()
    store = f"sqlite:///{tmp_path / 'tasks.db'}"
    args = ["serve", "tests.e2e.sample_app:Recorder", "--store", store, "--log-dir", str(tmp_path / "logs")]
    env = {"RECORDER_DIR": str(tmp_path / "runs"), "TMPDIR": str(tmp_path / "tmp"), "ASYNCTASK_TOKEN": TOKEN}
    server = Server(args, cwd=ROOT, env=env)
    try:
        for word in ("a", "b", "c"):
            call(server, "POST", "/api", {"data": {"word": word}})
            finished(server, word)
        samples = scrape(server)
        assert samples[("asynctask_submissions_total", (("outcome", "created"),))] == 3
        assert samples[("asynctask_tasks_finished_total", (("status", "success"),))] == 3
        assert metrics_dirs(tmp_path) == []
    finally:
        server.stop()
