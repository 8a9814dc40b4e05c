"""Access control: with a token, every route but /ping asks for it, compared in constant time."""

from __future__ import annotations

import pytest

from tests.http.envelopes import assert_error, assert_ok

TOKEN = "s3cret-token-of-the-service"
ROUTES = [
    ("POST", "/api", {"data": {"name": "a"}}),
    ("GET", "/api?task_id=task-a", None),
    ("GET", "/api/tasks", None),
    ("GET", "/api/logs?task_id=task-a", None),
    ("POST", "/api/cancel", {"task_id": "task-a"}),
    ("GET", "/api/openapi.json", None),
    ("GET", "/api/counts", None),
    ("GET", "/api/events?task_id=task-a", None),
    ("GET", "/api?task_id=task-a&wait=1", None),
    ("GET", "/metrics", None),
]


@pytest.fixture
def secured(service):
    return service.app("/api", token=TOKEN).test_client()


def _call(client, method, path, body, headers=None):
    return client.open(path, method=method, json=body, headers=headers or {})


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({}, "missing"),
        ({"Authorization": "Bearer wrong"}, "invalid"),
        ({"Authorization": f"Basic {TOKEN}"}, "invalid"),
        ({"Authorization": f"Bearer {TOKEN}x"}, "invalid"),
        ({"Authorization": "Bearer"}, "invalid"),
    ],
)
def test_every_route_refuses_a_request_without_the_token(secured, method, path, body, headers, problem):
    answer = _call(secured, method, path, body, headers)

    envelope = assert_error(answer, 401)
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert envelope["error_data"][0]["field"] == "Authorization"
    assert envelope["error_data"][0]["problem"] == problem
    assert TOKEN not in answer.get_data(as_text=True)


def test_with_the_token_every_route_answers(secured, executor):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert assert_ok(_call(secured, *ROUTES[0], bearer))["task_id"] == "task-a"
    for method, path, body in ROUTES[1:4]:
        assert _call(secured, method, path, body, bearer).status_code == 200, path
    assert assert_ok(_call(secured, *ROUTES[4], bearer))["status"] == "failed"  # cancelled
    assert _call(secured, *ROUTES[5], bearer).get_json()["security"] == [{"bearer": []}]
    for method, path, body in ROUTES[6:]:  # the task was cancelled: the stream ends at once
        assert _call(secured, method, path, body, bearer).status_code == 200, path
    assert secured.get("/api/tasks", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


def test_ping_stays_open_for_health_checks(secured):
    assert assert_ok(secured.get("/ping")) == "pong"


def test_the_token_can_come_from_the_environment(service, monkeypatch):
    monkeypatch.setenv("ASYNCTASK_TOKEN", TOKEN)
    client = service.app("/api").test_client()

    assert_error(client.get("/api/tasks"), 401)
    assert client.get("/api/tasks", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_without_a_token_nothing_is_asked(client):
    assert client.get("/api/tasks").status_code == 200
    assert "security" not in client.get("/api/openapi.json").get_json()


@pytest.mark.parametrize("bad", ["", "has space", "tab\there", "é-accent", 5])
def test_a_token_that_cannot_travel_in_a_header_is_refused(service, bad):
    with pytest.raises(ValueError, match="token"):
        service.app("/api", token=bad)


def test_the_secured_document_declares_the_scheme_and_401_on_every_operation(secured):
    document = secured.get("/api/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()

    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    for path, operations in document["paths"].items():
        for name, operation in operations.items():
            assert operation["responses"]["401"]["$ref"].endswith("Unauthorized"), (path, name)
