"""A server killed while its tasks run: they read as failed after the lease, and resume reruns each once."""

import signal
import time

import pytest

from tests.e2e.server import request, serve_recorder

LEASE = "0.3"
WORDS = ["alpha", "beta", "gamma"]


@pytest.fixture
def killed_with_tasks_running(tmp_path):
    """A server on SQLite SIGKILLed while three tasks wait on a hold file; returns a way to serve again."""
    hold = tmp_path / "hold"
    hold.touch()

    def serve(*extra):
        return serve_recorder(tmp_path, "--lease", LEASE, *extra)[0]

    runs = tmp_path / "runs"
    server = serve()
    for word in WORDS:
        request("POST", f"{server.base}/api", {"data": {"word": word, "hold": str(hold)}})
    deadline = time.monotonic() + 20
    while len(list(runs.iterdir())) < len(WORDS) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(list(runs.iterdir())) == len(WORDS)  # all three are running
    server.stop(signal.SIGKILL)
    hold.unlink()
    return serve, runs


def test_tasks_of_a_killed_server_read_as_failed_once_the_lease_is_over(killed_with_tasks_running):
    serve, runs = killed_with_tasks_running
    time.sleep(float(LEASE) + 0.1)
    server = serve()
    try:
        for word in WORDS:
            code, answer = request("GET", f"{server.base}/api?task_id=word-{word}")
            assert code == 200 and answer["data"]["status"] == "failed"
            assert "OwnerLostError: no heartbeat" in answer["data"]["error"]
    finally:
        server.stop(signal.SIGTERM)
    assert len(list(runs.iterdir())) == len(WORDS)


def test_a_resuming_server_reruns_each_lost_task_exactly_once(killed_with_tasks_running):
    serve, runs = killed_with_tasks_running
    server = serve("--resume", "--workers", "2")
    try:
        for word in WORDS:
            detail = server.wait_status(f"word-{word}")
            assert (detail["status"], detail["attempt"]) == ("success", 2)
    finally:
        server.stop(signal.SIGTERM)
    for word in WORDS:
        assert len(list(runs.glob(f"{word}-*"))) == 2  # the killed run and one rerun


def test_a_retry_waiting_when_its_server_is_killed_is_taken_over_and_keeps_its_time(tmp_path):
    from datetime import datetime

    args = ("--lease", LEASE, "--retries", "1", "--retry-backoff", "2")
    server, runs = serve_recorder(tmp_path, *args)
    request("POST", f"{server.base}/api", {"data": {"word": "doomed", "fail": True}})
    deadline, waiting = time.monotonic() + 20, None
    while time.monotonic() < deadline and not waiting:
        answer = request("GET", f"{server.base}/api?task_id=word-doomed")[1]["data"]
        waiting = answer if answer["attempt"] == 2 else None
        time.sleep(0.01)
    assert waiting and waiting["status"] == "running" and waiting["retries_left"] == 0
    server.stop(signal.SIGKILL)  # while the retry waits for its time

    server = serve_recorder(tmp_path, *args, "--resume")[0]
    try:
        detail = server.wait_status("word-doomed")
    finally:
        server.stop(signal.SIGTERM)
    assert (detail["status"], detail["attempt"]) == ("failed", 3)  # taken over as attempt 3, then run
    # Run no earlier than the time the killed server had set (then it waits no more: retry_time is null).
    assert datetime.fromisoformat(detail["start_time"]) >= datetime.fromisoformat(waiting["retry_time"])
    assert detail["retry_time"] is None
    assert len(list(runs.glob("doomed-*"))) == 2  # the failed run and its one retry
