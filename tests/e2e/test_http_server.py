"""The app behind a real HTTP server on 127.0.0.1, driven by a real client (http.client)."""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from werkzeug.serving import make_server

from asynctask import AsyncTask, InMemoryTaskRepository
from asynctask.http import create_app

ENVELOPE = {"status", "data", "error_data", "error_msg"}


class Gated(AsyncTask):
    """Words of a text, counted once the test opens the gate."""

    gate = threading.Event()

    def get_task_id(self, text: str) -> str:
        return f"words-{text}"

    def main(self, text: str, logger=None):
        """Count the words of ``text``."""
        self.runs.append(text)
        assert self.gate.wait(10), "the test never opened the gate"
        return {"words": len(text.split())}


@pytest.fixture
def service(tmp_path):
    Gated.gate = threading.Event()
    service = Gated(repository=InMemoryTaskRepository(), logger_dir=tmp_path, max_worker=2)
    service.runs = []
    yield service
    Gated.gate.set()
    service.shutdown()


@pytest.fixture
def server(service):
    """(host, port) of a threaded werkzeug server serving the app, with a 4 KiB body limit."""
    server = make_server("127.0.0.1", 0, create_app(service, "/api", max_content_length=4096), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield "127.0.0.1", server.server_port
    server.shutdown()
    thread.join(5)


def call(server, method: str, path: str, body: bytes | None = None, content_type: str | None = None):
    """One request on a fresh connection: (status, headers, parsed JSON body)."""
    connection = http.client.HTTPConnection(*server, timeout=10)
    try:
        headers = {"Content-Type": content_type} if content_type else {}
        connection.request(method, path, body=body, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.headers, json.loads(answer.read())
    finally:
        connection.close()


def post_json(server, payload):
    return call(server, "POST", "/api", json.dumps(payload).encode(), "application/json")


def poll_until_finished(server, task_id: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, body = call(server, "GET", f"/api?task_id={task_id}")
        assert status == 200 and set(body) == ENVELOPE
        if body["data"]["status"] != "running":
            return body["data"]
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} still running after {timeout} s")


def test_a_client_submits_sees_it_running_and_polls_the_result(server, service):
    status, headers, body = post_json(server, {"data": {"text": "hello async world"}})
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert body["status"] == "ok" and body["data"]["task_id"] == "words-hello async world"
    task_id = "words-hello%20async%20world"
    assert call(server, "GET", f"/api?task_id={task_id}")[2]["data"]["status"] == "running"
    Gated.gate.set()
    detail = poll_until_finished(server, task_id)
    assert detail["status"] == "success" and detail["result"] == {"words": 3} and detail["error"] is None
    assert detail["end_time"].endswith("+00:00") and detail["attempt"] == 1


def test_concurrent_identical_submissions_over_http_run_once(server, service):
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post_json(server, {"data": {"text": "same"}}), range(8)))
    assert {body["data"]["task_id"] for _, _, body in answers} == {"words-same"}
    Gated.gate.set()
    assert poll_until_finished(server, "words-same")["status"] == "success"
    assert service.runs == ["same"]


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "code"),
    [
        ("POST", "/api", b"{not json", "application/json", 400),
        ("POST", "/api", b'{"data": {"txt": "a"}}', "application/json", 400),
        ("POST", "/api", b'{"data": {"text": "a"}}', "application/x-www-form-urlencoded", 415),
        ("POST", "/api", b'{"data": {"text": "' + b"a" * 8000 + b'"}}', "application/json", 413),
        ("GET", "/api?task_id=nobody", None, None, 404),
        ("GET", "/nowhere", None, None, 404),
        ("DELETE", "/api", None, None, 405),
    ],
    ids=["invalid json", "bad params", "form body", "too large", "unknown task", "unknown route", "delete"],
)
def test_bad_requests_over_the_wire_get_error_envelopes(
    server, service, method, path, body, content_type, code
):
    status, headers, answer = call(server, method, path, body, content_type)
    assert status == code and set(answer) == ENVELOPE and answer["status"] == "error" and answer["error_msg"]
    assert headers["Content-Type"] == "application/json" and service.runs == []


def test_the_openapi_document_and_ping_are_served(server):
    status, _, document = call(server, "GET", "/api/openapi.json")
    assert status == 200 and document["openapi"] == "3.1.0"
    assert document["components"]["schemas"]["Params"]["required"] == ["text"]
    assert call(server, "GET", "/ping")[2]["data"] == "pong"
