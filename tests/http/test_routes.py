"""The routes that work: submit, poll, rerun, ping, and serving on an app of one's own."""

from datetime import datetime, timedelta, timezone

import pytest
from flask import Flask

from asynctask import InMemoryTaskRepository
from asynctask.http import create_app, register_error_handlers, task_blueprint
from tests.http.apps import Typed, Untyped
from tests.http.envelopes import assert_error, assert_ok

DETAIL_KEYS = {"task_id", "status", "result", "error", "create_time", "start_time", "end_time", "attempt"}


def test_post_submits_and_answers_the_task_detail(client, executor):
    data = assert_ok(client.post("/api", json={"data": {"name": "a", "value": 3}}))
    assert DETAIL_KEYS <= set(data)
    assert data["task_id"] == "task-a" and data["status"] == "running" and data["attempt"] == 1
    assert data["create_time"] == "2026-01-01T12:00:00+00:00" and data["start_time"] is None
    assert len(executor.pending) == 1


def test_get_polls_the_detail_until_success(client, executor, clock):
    client.post("/api", json={"data": {"name": "a", "value": 3}})
    clock.advance(seconds=2)
    executor.run_all()
    data = assert_ok(client.get("/api", query_string={"task_id": "task-a"}))
    assert data["status"] == "success" and data["result"] == 3 and data["error"] is None
    assert data["start_time"] == data["end_time"] == "2026-01-01T12:00:02+00:00"


def test_a_failed_task_answers_its_error_text(client, executor):
    client.post("/api", json={"data": {"name": "a", "fail": True}})
    executor.run_all()
    data = assert_ok(client.get("/api", query_string={"task_id": "task-a"}))
    assert data["status"] == "failed" and data["error"].endswith("ValueError: a failed on purpose")


def test_get_accepts_the_task_id_in_a_json_body(client):
    client.post("/api", json={"data": {"name": "b"}})
    assert assert_ok(client.get("/api", json={"task_id": "task-b"}))["task_id"] == "task-b"


def test_an_identical_submission_answers_the_same_task_and_runs_once(client, executor, service):
    first = assert_ok(client.post("/api", json={"data": {"name": "a"}}))
    again = assert_ok(client.post("/api", json={"data": {"name": "a"}}))
    assert first == again and len(executor.pending) == 1


def test_data_with_only_a_task_id_reruns_the_stored_task_with_its_params(client, executor, service):
    client.post("/api", json={"data": {"name": "a", "fail": True}})
    executor.run_all()
    data = assert_ok(client.post("/api", json={"data": {"task_id": "task-a"}}))
    assert data["attempt"] == 2 and data["status"] == "running"
    executor.run_all()
    assert [call["name"] for call in service.calls] == ["a", "a"]


def test_data_with_a_task_id_and_params_submits_under_that_id(client, executor, service):
    data = assert_ok(client.post("/api", json={"data": {"task_id": "mine", "name": "a"}}))
    assert data["task_id"] == "mine" and service.repository.get("mine").params == {"name": "a"}


def test_ping_answers_an_ok_envelope(client):
    assert assert_ok(client.get("/ping")) == "pong"


def test_head_on_the_endpoint_answers_like_get_without_a_body(client):
    client.post("/api", json={"data": {"name": "a"}})
    answer = client.head("/api", query_string={"task_id": "task-a"})
    assert answer.status_code == 200 and answer.get_data() == b""


def test_an_overridden_retrieve_is_honoured(client, service):
    service.retrieve = lambda task_id: {"status": "success", "result": task_id.upper(), "source": "mine"}
    data = assert_ok(client.get("/api", query_string={"task_id": "abc"}))
    assert data == {"task_id": "abc", "status": "success", "result": "ABC", "source": "mine"}


def test_an_overridden_retrieve_answering_none_is_a_404(client, service):
    service.retrieve = lambda task_id: None
    assert_error(client.get("/api", query_string={"task_id": "abc"}), 404)


def test_times_from_an_overridden_retrieve_are_answered_in_utc(client, service):
    naive = datetime(2026, 3, 1, 8, 30)  # what pymongo gives without tz_aware: UTC
    paris = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    service.retrieve = lambda task_id: {"create_time": naive, "end_time": paris}
    data = assert_ok(client.get("/api", query_string={"task_id": "x"}))
    assert data["create_time"] == data["end_time"] == "2026-03-01T08:30:00+00:00"


def test_a_submission_whose_retrieve_answers_none_still_answers_its_task_id(client, service):
    service.retrieve = lambda task_id: None
    assert assert_ok(client.post("/api", json={"data": {"name": "a"}})) == {"task_id": "task-a"}


def test_the_blueprint_mounts_on_an_existing_app(service, executor):
    app = Flask("existing")
    app.add_url_rule("/", "home", lambda: "home page")
    app.register_blueprint(task_blueprint(service, "/v1/count"))
    client = app.test_client()
    assert client.get("/").get_data(as_text=True) == "home page"
    assert assert_ok(client.post("/v1/count", json={"data": {"name": "a"}}))["task_id"] == "task-a"
    assert_error(client.get("/v1/count", query_string={"task_id": "nope"}), 404)
    assert_error(client.post("/v1/count", data="{", content_type="application/json"), 400)


def test_register_error_handlers_gives_an_existing_app_envelope_404s(service):
    app = Flask("existing")
    app.register_blueprint(task_blueprint(service, "/count"))
    register_error_handlers(app)
    assert_error(app.test_client().get("/nowhere"), 404)
    assert_error(app.test_client().put("/count"), 405)


def test_one_app_serves_several_task_classes_on_different_endpoints(service, tmp_path, executor, clock):
    typed = Typed(logger_dir=tmp_path, repository=InMemoryTaskRepository(), executor=executor, clock=clock)
    app = service.app("/count")
    app.register_blueprint(task_blueprint(typed, "/score"))
    client = app.test_client()
    assert assert_ok(client.post("/count", json={"data": {"name": "a"}}))["task_id"] == "task-a"
    assert assert_ok(client.post("/score", json={"data": {"text": "a"}}))["task_id"] == "typed-a-1"
    assert_error(client.get("/score", query_string={"task_id": "task-a"}), 404)
    assert client.get("/score/openapi.json").json["info"]["title"] == "Typed"


def test_the_body_limit_is_configurable(service):
    client = create_app(service, "/api", max_content_length=64).test_client()
    assert_ok(client.post("/api", json={"data": {"name": "a"}}))
    body = assert_error(client.post("/api", json={"data": {"name": "a" * 100}}), 413)
    assert body["error_data"][0]["limit"] == 64


@pytest.mark.parametrize("endpoint", ["api", "/api/", "/v1/tasks"])
def test_the_endpoint_is_normalised_to_one_leading_slash(tmp_path, executor, endpoint):
    service = Untyped(logger_dir=tmp_path, repository=InMemoryTaskRepository(), executor=executor)
    client = service.app(endpoint).test_client()
    path = "/" + endpoint.strip("/")
    assert assert_ok(client.post(path, json={"data": {"a": 1}}))["status"] == "running"
    assert client.get(path + "/openapi.json").status_code == 200


def test_a_blueprint_without_its_own_limit_uses_the_apps(service):
    app = Flask("existing")
    app.config["MAX_CONTENT_LENGTH"] = 32
    app.register_blueprint(task_blueprint(service, "/api", max_content_length=None))
    assert_error(app.test_client().post("/api", json={"data": {"name": "a" * 40}}), 413)


def test_redirects_of_an_existing_app_still_redirect(service):
    app = service.app("/api")
    app.add_url_rule("/docs/", "docs", lambda: "docs")
    answer = app.test_client().get("/docs")
    assert answer.status_code == 308 and answer.headers["Location"].endswith("/docs/")
