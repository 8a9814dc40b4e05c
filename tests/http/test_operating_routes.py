"""``GET {endpoint}/tasks`` and ``GET {endpoint}/logs``: every parameter and every error, as envelopes."""

from __future__ import annotations

import pytest
from flask import Flask

from asynctask.http import register_error_handlers, task_blueprint
from asynctask.service.logs import log_file_name
from tests.http.envelopes import assert_error, assert_ok


def _run(client, executor, clock, names, fail=()):
    for name in names:
        assert_ok(client.post("/api", json={"data": {"name": name, "fail": name in fail}}))
        clock.advance(seconds=1)
    executor.run_all()


def _ids(data) -> list[str]:
    return [detail["task_id"] for detail in data["tasks"]]


# -- /tasks ---------------------------------------------------------------------


def test_tasks_pages_newest_first_with_a_cursor(client, executor, clock):
    _run(client, executor, clock, ["a", "b", "c"], fail={"b"})

    first = assert_ok(client.get("/api/tasks", query_string={"limit": 2}))
    second = assert_ok(client.get("/api/tasks", query_string={"limit": 2, "cursor": first["next_cursor"]}))

    assert _ids(first) == ["task-c", "task-b"]
    assert first["tasks"][1]["status"] == "failed" and first["tasks"][1]["error"].endswith("on purpose")
    assert first["tasks"][0] == assert_ok(client.get("/api", query_string={"task_id": "task-c"}))
    assert _ids(second) == ["task-a"] and second["next_cursor"] is None


def test_tasks_filters_by_status_and_time(client, executor, clock):
    _run(client, executor, clock, ["a", "b", "c", "d"], fail={"a", "c"})

    failed = assert_ok(client.get("/api/tasks?status=failed&limit=20"))
    window = assert_ok(client.get("/api/tasks?since=2026-01-01T12:00:01Z&until=2026-01-01T12:00:03%2B00:00"))

    assert _ids(failed) == ["task-c", "task-a"]
    assert _ids(window) == ["task-c", "task-b"]
    assert assert_ok(client.get("/api/tasks?status=running")) == {"tasks": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("query", "field", "problem"),
    [
        ("status=done", "status", "invalid"),
        ("limit=0", "limit", "invalid"),
        ("limit=1001", "limit", "invalid"),
        ("limit=ten", "limit", "type"),
        ("limit=1.5", "limit", "type"),
        ("limit=", "limit", "type"),
        ("cursor=bogus", "cursor", "invalid"),
        ("since=noon", "since", "invalid"),
        ("until=2026-13-01T00:00:00Z", "until", "invalid"),
        ("until=", "until", "invalid"),
        ("status=", "status", "invalid"),
        ("cursor=", "cursor", "invalid"),
        ("limit=1&limit=2", "limit", "repeated"),
        ("stauts=failed", "stauts", "unexpected"),
    ],
)
def test_a_bad_tasks_parameter_is_a_400_naming_it(client, query, field, problem):
    body = assert_error(client.get(f"/api/tasks?{query}"), 400)

    assert body["error_data"][0]["field"] == field
    assert body["error_data"][0]["problem"] == problem
    assert field in body["error_msg"]


def test_a_task_named_tasks_or_logs_is_still_reached_by_its_id(client, executor):
    for name in ("tasks", "logs"):
        client.post("/api", json={"data": {"name": name, "task_id": name}})
    executor.run_all()

    assert assert_ok(client.get("/api?task_id=tasks"))["task_id"] == "tasks"
    assert assert_ok(client.get("/api?task_id=logs"))["task_id"] == "logs"
    assert set(_ids(assert_ok(client.get("/api/tasks")))) == {"tasks", "logs"}


# -- /logs ----------------------------------------------------------------------


def test_logs_answers_the_log_and_reads_on_from_next_offset(client, service, executor, clock):
    _run(client, executor, clock, ["a"])
    with open(f"{service.logger_dir}/{log_file_name('task-a')}", encoding="utf-8") as file:
        whole = file.read()

    first = assert_ok(client.get("/api/logs?task_id=task-a&limit=10"))
    rest = assert_ok(client.get(f"/api/logs?task_id=task-a&offset={first['next_offset']}"))
    end = assert_ok(client.get(f"/api/logs?task_id=task-a&offset={rest['next_offset']}"))

    assert first["task_id"] == "task-a" and first["next_offset"] == 10
    assert first["text"] + rest["text"] == whole and "running a" in whole
    assert end == {"task_id": "task-a", "text": "", "next_offset": len(whole.encode())}


def test_logs_of_a_task_with_no_log_yet_is_empty_text(client):
    client.post("/api", json={"data": {"name": "queued"}})

    assert assert_ok(client.get("/api/logs?task_id=task-queued")) == {
        "task_id": "task-queued",
        "text": "",
        "next_offset": 0,
    }


def test_logs_of_an_unknown_task_is_a_404(client):
    body = assert_error(client.get("/api/logs?task_id=nobody"), 404)

    assert body["error_data"][0]["task_id"] == "nobody"


@pytest.mark.parametrize(
    ("query", "field", "problem"),
    [
        ("", "task_id", "missing"),
        ("task_id=", "task_id", "empty"),
        ("task_id=task-a&offset=-1", "offset", "invalid"),
        ("task_id=task-a&offset=x", "offset", "type"),
        ("task_id=task-a&limit=3", "limit", "invalid"),
        ("task_id=task-a&limit=99999999", "limit", "invalid"),
        ("task_id=a&task_id=b", "task_id", "repeated"),
        ("task_id=task-a&follow=1", "follow", "unexpected"),
    ],
)
def test_a_bad_logs_parameter_is_a_400_naming_it(client, query, field, problem):
    client.post("/api", json={"data": {"name": "a"}})

    body = assert_error(client.get(f"/api/logs?{query}"), 400)

    assert body["error_data"][0]["field"] == field
    assert body["error_data"][0]["problem"] == problem


def test_an_offset_far_past_the_end_is_empty_text(client, executor, clock):
    _run(client, executor, clock, ["a"])

    data = assert_ok(client.get(f"/api/logs?task_id=task-a&offset={2**63 - 1}"))

    assert data["text"] == "" and data["next_offset"] == 2**63 - 1


# -- the blueprint, and the document ------------------------------------------------


def test_the_blueprint_serves_the_routes_under_its_own_endpoint(service, executor):
    app = Flask("mine")
    app.register_blueprint(task_blueprint(service, "/jobs/count"))
    register_error_handlers(app)
    client = app.test_client()
    client.post("/jobs/count", json={"data": {"name": "a"}})
    executor.run_all()

    assert _ids(assert_ok(client.get("/jobs/count/tasks"))) == ["task-a"]
    assert "running a" in assert_ok(client.get("/jobs/count/logs?task_id=task-a"))["text"]
    assert_error(client.get("/jobs/count/tasks?limit=0"), 400)
    assert_error(client.post("/jobs/count/tasks"), 405)


def test_the_openapi_document_describes_both_routes(client):
    document = client.get("/api/openapi.json").get_json()

    listing = document["paths"]["/api/tasks"]["get"]
    logs = document["paths"]["/api/logs"]["get"]

    assert {p["name"] for p in listing["parameters"]} == {"status", "limit", "cursor", "since", "until"}
    assert {p["name"] for p in logs["parameters"]} == {"task_id", "offset", "limit"}
    assert [p["required"] for p in logs["parameters"] if p["name"] == "task_id"] == [True]
    assert listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("TaskPage")
    assert set(listing["responses"]) == {"200", "400", "414", "500"}
    assert set(logs["responses"]) == {"200", "400", "404", "414", "500"}


# -- /cancel --------------------------------------------------------------------


def test_cancel_records_a_running_task_failed_and_answers_its_detail(client, executor):
    client.post("/api", json={"data": {"name": "a"}})

    data = assert_ok(client.post("/api/cancel", json={"task_id": "task-a"}))

    assert data["task_id"] == "task-a" and data["status"] == "failed"
    assert data["error"].endswith("TaskCancelledError: cancelled by request")
    executor.run_all()
    assert assert_ok(client.get("/api?task_id=task-a"))["error"] == data["error"]


def test_cancel_of_an_unknown_task_is_a_404_and_of_a_finished_one_a_409(client, executor):
    assert_error(client.post("/api/cancel", json={"task_id": "nobody"}), 404)
    client.post("/api", json={"data": {"name": "a"}})
    executor.run_all()

    body = assert_error(client.post("/api/cancel", json={"task_id": "task-a"}), 409)

    assert "already success" in body["error_msg"]
    assert body["error_data"][0] == {
        "field": "task_id",
        "problem": "finished",
        "message": body["error_msg"],
        "task_id": "task-a",
        "status": "success",
    }


@pytest.mark.parametrize(
    ("body", "problem"),
    [({}, "missing"), ({"task_id": ""}, "empty"), ({"task_id": 5}, "not_a_string")],
)
def test_cancel_needs_a_task_id_in_the_body(client, body, problem):
    answer = assert_error(client.post("/api/cancel", json=body), 400)

    assert answer["error_data"][0]["field"] == "task_id"
    assert answer["error_data"][0]["problem"] == problem


def test_cancel_is_a_post_and_is_in_the_document(client):
    assert_error(client.get("/api/cancel"), 405)
    document = client.get("/api/openapi.json").get_json()

    operation = document["paths"]["/api/cancel"]["post"]
    assert set(operation["responses"]) == {"200", "400", "404", "409", "413", "415", "500"}
