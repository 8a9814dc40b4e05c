"""Control through the real server: cancel over HTTP and from another process, processes, retries."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.e2e.server import ROOT, request, serve_recorder


def _wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_queued_task_cancelled_from_another_process_never_runs_and_a_running_ones_result_is_dropped(
    tmp_path,
):
    hold = tmp_path / "hold"
    hold.touch()
    server, runs = serve_recorder(tmp_path, "--max-worker", "1", "--lease", "1")
    try:
        request("POST", f"{server.base}/api", {"data": {"word": "busy", "hold": str(hold)}})
        assert _wait_for(lambda: any(runs.iterdir()))  # busy runs, and holds the only task thread
        request("POST", f"{server.base}/api", {"data": {"word": "queued"}})

        store = f"sqlite:///{tmp_path / 'tasks.db'}"
        done = subprocess.run(
            [sys.executable, "-m", "asynctask", "cancel", "word-queued", "--store", store],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        code, answer = request("POST", f"{server.base}/api/cancel", {"task_id": "word-busy"})
        assert code == 200 and answer["data"]["status"] == "failed"
        # The owner learns of the other process's cancel at its next heartbeat round (lease / 4).
        assert _wait_for(lambda: "task word-queued attempt 1 ended elsewhere" in server.output())
        hold.unlink()  # busy returns now; its result is dropped, and the queued one must not start

        assert _wait_for(lambda: "dropped the result of task word-busy" in server.output())
        for task_id in ("word-busy", "word-queued"):
            code, answer = request("GET", f"{server.base}/api?task_id={task_id}")
            assert answer["data"]["status"] == "failed"
            assert answer["data"]["error"].endswith("TaskCancelledError: cancelled by request")
            assert answer["data"]["result"] is None
        assert [mark.name.split("-")[0] for mark in runs.iterdir()] == ["busy"]
    finally:
        server.stop()


def test_serve_with_processes_ends_a_timed_out_task_and_a_cancelled_one(tmp_path):
    import os

    from tests.e2e.server import Server

    store = f"sqlite:///{tmp_path / 'tasks.db'}"
    args = ["serve", "tests.e2e.sample_app:Sleeper", "--store", store, "--log-dir", str(tmp_path / "logs")]
    args += ["--executor", "processes", "--max-worker", "3", "--task-timeout", "1.5", "--lease", "1"]
    server = Server(args, cwd=ROOT, env={"RECORDER_DIR": str(tmp_path)})
    try:
        slow, cancelled, elsewhere = tmp_path / "slow", tmp_path / "cancelled", tmp_path / "elsewhere"
        for marker in (slow, cancelled, elsewhere):
            request("POST", f"{server.base}/api", {"data": {"marker": str(marker), "seconds": 60}})
        assert _wait_for(lambda: slow.exists() and cancelled.exists() and elsewhere.exists())
        code, _ = request("POST", f"{server.base}/api/cancel", {"task_id": "sleep-cancelled"})
        assert code == 200
        done = subprocess.run(  # another process: the server ends the work at its next heartbeat round
            [sys.executable, "-m", "asynctask", "cancel", "sleep-elsewhere", "--store", store],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr

        timed_out = server.wait_status("sleep-slow", timeout=5)
        assert timed_out["error"].startswith("TimeoutError")
        for marker in (slow, cancelled, elsewhere):
            pid = int(marker.read_text().split()[0])
            assert _wait_for(lambda pid=pid: not os.path.exists(f"/proc/{pid}"), timeout=3), marker.name
            size = marker.stat().st_size
            time.sleep(0.2)
            assert marker.stat().st_size == size  # nothing runs it any more
    finally:
        server.stop()
    assert server.process.returncode == 0  # SIGTERM: the pool of processes shut down with the service


def test_serve_with_retries_reruns_a_failing_task_then_fails_it_with_the_last_error(tmp_path):
    server, runs = serve_recorder(tmp_path, "--retries", "2", "--retry-backoff", "0.05")
    try:
        code, answer = request("POST", f"{server.base}/api", {"data": {"word": "flaky", "fail": True}})
        assert code == 200 and answer["data"]["retries_left"] == 2

        detail = server.wait_status("word-flaky", timeout=10)

        assert (detail["status"], detail["attempt"], detail["retries_left"]) == ("failed", 3, 0)
        assert detail["error"].endswith("RuntimeError: flaky failed on purpose")
        assert len(list(runs.iterdir())) == 3  # the first run and two retries
    finally:
        server.stop()
