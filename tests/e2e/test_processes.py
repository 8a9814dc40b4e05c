"""Real servers in subprocesses: gunicorn workers sharing SQLite, and restarts."""

import http.client
import signal
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.server import request, serve_recorder


def submit_retrying(url: str, body: dict) -> tuple[int, dict]:
    """POST, retrying a connection a worker still booting dropped: a submission is idempotent."""
    for attempt in range(5):
        try:
            return request("POST", url, body)
        except (ConnectionError, http.client.HTTPException, urllib.error.URLError):
            if attempt == 4:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


def test_thirty_identical_posts_to_three_gunicorn_workers_run_main_once(tmp_path):
    server, runs = serve_recorder(tmp_path, "--workers", "3", "--threads", "4")
    try:
        with ThreadPoolExecutor(30) as pool:
            answers = list(
                pool.map(
                    lambda _: submit_retrying(f"{server.base}/api", {"data": {"word": "once"}}), range(30)
                )
            )
        assert {code for code, _ in answers} == {200}
        assert {answer["data"]["task_id"] for _, answer in answers} == {"word-once"}
        detail = server.wait_status("word-once")
        assert detail["status"] == "success" and detail["attempt"] == 1
    finally:
        output = server.stop(signal.SIGTERM)
        print(output)  # shown by pytest if the test fails
    assert len(list(runs.iterdir())) == 1, output
    assert "Booting worker" in output


def test_a_finished_result_survives_a_killed_server(tmp_path):
    server, _ = serve_recorder(tmp_path)
    try:
        request("POST", f"{server.base}/api", {"data": {"word": "durable"}})
        before = server.wait_status("word-durable")
    finally:
        server.stop(signal.SIGKILL)
    assert server.process.returncode == -signal.SIGKILL

    again, runs = serve_recorder(tmp_path)
    try:
        code, answer = request("GET", f"{again.base}/api?task_id=word-durable")
        assert code == 200 and answer["data"] == before
        assert answer["data"]["result"]["upper"] == "DURABLE"
        request("POST", f"{again.base}/api", {"data": {"word": "durable"}})
    finally:
        again.stop(signal.SIGTERM)
    assert len(list(runs.iterdir())) == 1
