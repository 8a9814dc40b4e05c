"""Long-polls and event streams through the real server: across workers, at no CPU, and stopped at once."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time

from tests.e2e.server import request, serve_recorder


def _submit(server, word: str, hold) -> str:
    code, body = request("POST", f"{server.base}/api", {"data": {"word": word, "hold": str(hold)}})
    assert code == 200, body
    return body["data"]["task_id"]


def _started_version(server, task_id: str) -> int:
    """The task's version once its start is written (about 50 ms after it starts): the one to wait past."""
    deadline = time.monotonic() + 10
    while True:
        detail = request("GET", f"{server.base}/api?task_id={task_id}")[1]["data"]
        if detail["start_time"] is not None:
            return detail["version"]
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.02)


def _cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of these processes, from ``/proc/PID/stat``."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _long_polls(server, task_id: str, version: int, count: int) -> tuple[list[threading.Thread], list]:
    answers: list = []

    def poll() -> None:
        started = time.monotonic()
        code, body = request("GET", f"{server.base}/api?task_id={task_id}&wait=20&version={version}")
        answers.append((code, body["data"], time.monotonic() - started))

    threads = [threading.Thread(target=poll, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, answers


def _stream(server, task_id: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    connection.request("GET", f"/api/events?task_id={task_id}")
    return connection.getresponse()


def _read_events(answer: http.client.HTTPResponse) -> list[dict]:
    events, event = [], {}
    for raw in answer:
        line = raw.decode().rstrip("\n")
        if not line:
            if "data" in event:
                events.append(event)
            event = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            event[field] = json.loads(value) if field == "data" else value
    return events


def test_long_polls_on_every_worker_answer_when_a_task_ends_and_cost_no_cpu_meanwhile(tmp_path):
    hold = tmp_path / "hold"
    hold.touch()
    server, _ = serve_recorder(tmp_path, "--workers", "2", "--threads", "16")
    try:
        code, body = request("POST", f"{server.base}/api", {"data": {"word": "slow", "hold": str(hold)}})
        assert code == 200
        version = _started_version(server, body["data"]["task_id"])
        threads, answers = _long_polls(server, body["data"]["task_id"], version, 12)  # both workers
        time.sleep(0.3)
        before = _cpu_seconds(server.processes())
        time.sleep(0.45)  # a window of the wait: a busy loop would spend most of a core in it
        spent = _cpu_seconds(server.processes()) - before
        assert not answers  # all still waiting

        ended = time.monotonic()
        hold.unlink()
        for thread in threads:
            thread.join(10)

        assert [(code, data["status"]) for code, data, _ in answers] == [(200, "success")] * 12
        assert time.monotonic() - ended < 3  # within the poll of the worker that did not run it
        assert spent < 0.1, f"12 waiting requests cost {spent:.2f} s of CPU in 0.45 s"
    finally:
        server.stop()


def test_an_event_stream_through_the_server_follows_a_task_to_its_end(tmp_path):
    hold = tmp_path / "hold"
    hold.touch()
    server, _ = serve_recorder(tmp_path)
    try:
        task_id = _submit(server, "w", hold)
        answer = _stream(server, task_id)
        assert answer.status == 200 and answer.getheader("Content-Type").startswith("text/event-stream")
        threading.Timer(0.3, hold.unlink).start()

        events = _read_events(answer)  # until the server ends the stream

        assert events[0]["data"]["status"] == "running" and events[-1]["data"]["status"] == "success"
        ids = [int(event["id"]) for event in events]
        assert ids == sorted(set(ids))
        assert events[-1]["data"]["result"]["upper"] == "W"
        again = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        again.request("GET", f"/api/events?task_id={task_id}", headers={"Last-Event-ID": str(ids[-1])})
        assert again.getresponse().status == 204
    finally:
        server.stop()


def test_a_stopping_server_ends_its_streams_and_long_polls_before_its_task_ends(tmp_path):
    hold = tmp_path / "hold"
    hold.touch()
    server, _ = serve_recorder(tmp_path, "--workers", "2")
    try:
        task_id = _submit(server, "long", hold)
        version = _started_version(server, task_id)
        threads, answers = _long_polls(server, task_id, version, 4)
        streamed: list = []

        def follow() -> None:
            streamed.append((_read_events(_stream(server, task_id)), time.monotonic()))

        readers = [threading.Thread(target=follow, daemon=True) for _ in range(4)]
        for reader in readers:
            reader.start()
        time.sleep(0.3)
        assert not answers and not streamed

        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        threading.Timer(3.0, hold.unlink).start()  # the task ends 3 s after the signal, not before
        for thread in threads + readers:
            thread.join(10)

        assert [(code, data["status"]) for code, data, _ in answers] == [(200, "running")] * 4
        assert all(events[-1]["data"]["status"] == "running" for events, _ in streamed)
        assert max(ended for _, ended in streamed) - signalled < 2
        server.process.wait(timeout=30)
    finally:
        if hold.exists():
            hold.unlink()
        server.stop()
