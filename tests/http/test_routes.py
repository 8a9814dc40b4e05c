"""The minimal app: submit, poll, ping, and the envelope around every answer."""

import pytest

ENVELOPE = {"status", "data", "error_data", "error_msg"}


def test_post_submits_and_answers_the_task_detail(client, executor):
    answer = client.post("/api", json={"data": {"name": "a", "value": 3}})
    assert answer.status_code == 200 and set(answer.json) == ENVELOPE
    assert answer.json["status"] == "ok"
    assert answer.json["data"]["task_id"] == "task-a" and answer.json["data"]["status"] == "running"
    executor.run_all()
    polled = client.get("/api", query_string={"task_id": "task-a"})
    assert polled.json["data"]["status"] == "success" and polled.json["data"]["result"] == 3
    assert polled.json["data"]["end_time"] == "2026-01-01T12:00:00+00:00"


def test_get_accepts_the_task_id_in_a_json_body(client, executor):
    client.post("/api", json={"data": {"name": "b"}})
    answer = client.get("/api", json={"task_id": "task-b"})
    assert answer.status_code == 200 and answer.json["data"]["task_id"] == "task-b"


def test_ping_answers_ok(client):
    assert client.get("/ping").json == {"status": "ok"}


@pytest.mark.parametrize(
    ("request_args", "code"),
    [
        ({"method": "POST", "data": "{not json", "content_type": "application/json"}, 400),
        ({"method": "POST", "json": [1, 2]}, 400),
        ({"method": "POST", "json": {"params": {}}}, 400),
        ({"method": "POST", "json": {"data": {"nme": "a"}}}, 400),
        ({"method": "GET", "query_string": {"task_id": "missing"}}, 404),
        ({"method": "GET", "json": {"task_id": {"$ne": None}}}, 400),
        ({"method": "GET"}, 400),
        ({"method": "DELETE"}, 405),
    ],
    ids=[
        "invalid json",
        "not an object",
        "no data",
        "bad params",
        "unknown task",
        "injection",
        "no id",
        "wrong method",
    ],
)
def test_bad_requests_get_a_4xx_envelope_and_store_nothing(client, executor, request_args, code):
    answer = client.open("/api", **request_args)
    assert answer.status_code == code
    assert set(answer.json) == ENVELOPE and answer.json["status"] == "error" and answer.json["error_msg"]
    assert not executor.pending


def test_unknown_routes_are_a_404_envelope(client):
    answer = client.get("/nowhere")
    assert answer.status_code == 404 and answer.json["status"] == "error"


def test_a_server_fault_is_a_500_without_traceback(client, service):
    def broken(task_id):
        raise RuntimeError("secret detail")

    service.retrieve = broken
    answer = client.get("/api", query_string={"task_id": "x"})
    assert answer.status_code == 500 and answer.json["error_msg"] == "internal server error"
    assert "secret" not in answer.get_data(as_text=True) and "Traceback" not in answer.get_data(as_text=True)
