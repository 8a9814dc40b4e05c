"""Every bad request gets a clear 4xx envelope, stores nothing and runs nothing; a fault is a bare 500."""

import logging

import pytest

from asynctask import SubmissionConflictError, UnencodableValueError
from asynctask.core import StoreUnavailableError
from tests.http.envelopes import assert_error

JSON = "application/json"


def rejected(problem, code=400, label=None, **request_args):
    """A bad request, what it must answer, and the ``problem`` word its first detail names."""
    return pytest.param(
        request_args, code, problem, label, id=problem if label is None else f"{label} {problem}"
    )


BAD_SUBMISSIONS = [
    rejected("invalid_json", data="{not json", content_type=JSON),
    rejected("invalid_json", label="bytes", data=b"\xff\xfe{}", content_type=JSON),
    rejected("not_an_object", json=[1, 2]),
    rejected("not_an_object", label="string", json="text"),
    rejected("missing", label="data", json={"params": {}}),
    rejected("not_an_object", label="data", json={"data": [1]}),
    rejected("not_an_object", label="data null", json={"data": None}),
    rejected("missing", label="param", json={"data": {"value": 1}}),
    rejected("unexpected", json={"data": {"name": "a", "nme": "a"}}),
    rejected("reserved", json={"data": {"name": "a", "logger": "x"}}),
    rejected("reserved", label="self", json={"data": {"name": "a", "self": 1}}),
    rejected("not_a_string", json={"data": {"task_id": {"$ne": None}}}),
    rejected("not_a_string", label="number", json={"data": {"task_id": 7, "name": "a"}}),
    rejected("empty", json={"data": {"task_id": ""}}),
    rejected("not_found", 404, json={"data": {"task_id": "nobody"}}),
    rejected("non_standard_number", data='{"data": {"name": "a", "value": NaN}}', content_type=JSON),
    rejected(
        "non_standard_number",
        label="Infinity",
        data='{"data": {"name": "a", "value": -Infinity}}',
        content_type=JSON,
    ),
    rejected("out_of_range", data='{"data": {"name": "a", "value": 1e400}}', content_type=JSON),
    rejected(
        "out_of_range",
        label="int",
        data='{"data": {"name": "a", "value": 9223372036854775808}}',
        content_type=JSON,
    ),
    rejected(
        "out_of_range",
        label="5000 digits",
        data='{"data": {"name": "a", "value": ' + "7" * 5000 + "}}",
        content_type=JSON,
    ),
    rejected("duplicate_key", data='{"data": {"name": "a", "name": "b"}}', content_type=JSON),
    rejected(
        "duplicate_key",
        label="nested",
        data='{"data": {"name": "a", "o": {"k": 1, "k": 2}}}',
        content_type=JSON,
    ),
    rejected("invalid_unicode", data='{"data": {"name": "\\udc00"}}', content_type=JSON),
    rejected(
        "too_deep", data='{"data": {"name": "a", "value": ' + "[" * 70 + "]" * 70 + "}}", content_type=JSON
    ),
    rejected("too_deep", label="recursion", data="[" * 200_000, content_type=JSON),
    rejected(
        "unsupported", 415, data='{"data": {"name": "a"}}', content_type="application/x-www-form-urlencoded"
    ),
    rejected("unsupported", 415, label="text", data='{"data": {"name": "a"}}', content_type="text/plain"),
    rejected("unsupported", 415, label="none", data='{"data": {"name": "a"}}'),
    rejected("missing", label="no body", data=b""),
    rejected("too_large", 413, json={"data": {"name": "a" * (1024 * 1024)}}),
]


@pytest.mark.parametrize(("request_args", "code", "problem", "label"), BAD_SUBMISSIONS)
def test_a_bad_submission_is_a_4xx_envelope_that_stores_and_runs_nothing(
    client, service, executor, request_args, code, problem, label
):
    body = assert_error(client.post("/api", **request_args), code)
    assert body["error_data"][0]["problem"] == problem
    assert len(service.repository) == 0 and not executor.pending and not service.calls


BAD_POLLS = [
    rejected("not_found", 404, query_string={"task_id": "missing"}),
    rejected("missing", query_string={}),
    rejected("empty", query_string={"task_id": ""}),
    rejected("repeated", query_string="task_id=a&task_id=b"),
    rejected("not_a_string", json={"task_id": {"$ne": None}}),
    rejected("not_a_string", label="array", json={"task_id": ["a"]}),
    rejected("not_a_string", label="null", json={"task_id": None}),
    rejected("missing", label="body", json={"id": "a"}),
    rejected("not_an_object", json=["task_id"]),
    rejected("invalid_json", data="task_id=a", content_type=JSON),
    rejected("unsupported", 415, data="task_id=a", content_type="application/x-www-form-urlencoded"),
    rejected("too_large", 413, json={"task_id": "a" * (1024 * 1024)}),
]


@pytest.mark.parametrize(("request_args", "code", "problem", "label"), BAD_POLLS)
def test_a_bad_poll_is_a_4xx_envelope(client, request_args, code, problem, label):
    body = assert_error(client.get("/api", **request_args), code)
    assert body["error_data"][0]["problem"] == problem


def test_an_injection_object_never_reaches_the_store(client, service):
    asked = []
    service.repository.get = asked.append
    service.retrieve = lambda task_id: asked.append(task_id)
    assert_error(client.get("/api", json={"task_id": {"$ne": None}}), 400)
    assert_error(client.post("/api", json={"data": {"task_id": {"$gt": ""}}}), 400)
    assert asked == []


def test_a_missing_param_and_an_unexpected_one_are_both_named(client):
    body = assert_error(client.post("/api", json={"data": {"nme": "a", "logger": 1}}), 400)
    named = {(d["param"], d["problem"]) for d in body["error_data"]}
    assert named == {("name", "missing"), ("nme", "unexpected"), ("logger", "reserved")}
    assert "'name' is required" in body["error_msg"]


def test_a_json_body_with_a_json_suffix_type_is_accepted(client):
    answer = client.post("/api", data='{"data": {"name": "a"}}', content_type="application/vnd.api+json")
    assert answer.status_code == 200


def test_the_415_tells_curl_users_what_to_send(client):
    body = assert_error(
        client.post("/api", data='{"data": {}}', content_type="application/x-www-form-urlencoded"), 415
    )
    assert "Content-Type: application/json" in body["error_msg"]
    assert body["error_data"][0]["got"] == "application/x-www-form-urlencoded"


def test_an_unknown_route_is_a_404_envelope(client):
    assert assert_error(client.get("/nowhere"), 404)["error_data"][0]["problem"] == "not_found"


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH"])
def test_a_wrong_method_is_a_405_envelope_naming_the_allowed_ones(client, method):
    answer = client.open("/api", method=method)
    body = assert_error(answer, 405)
    assert {"GET", "POST"} <= set(body["error_data"][0]["allowed"]) and "POST" in answer.headers["Allow"]


def test_post_on_the_openapi_document_is_a_405(client):
    assert_error(client.post("/api/openapi.json", json={}), 405)


def test_a_server_fault_is_a_500_with_a_short_message_and_the_traceback_in_the_log(client, service, caplog):
    def broken(task_id):
        raise RuntimeError("secret detail")

    service.retrieve = broken
    with caplog.at_level(logging.ERROR, logger="asynctask.http"):
        body = assert_error(client.get("/api", query_string={"task_id": "x"}), 500)
    assert body["error_msg"] == "internal server error" and body["error_data"] == []
    assert "secret" not in str(body)
    assert "secret detail" in caplog.text and "Traceback" in caplog.text


def test_a_retrieve_answering_a_non_dict_is_a_500(client, service):
    service.retrieve = lambda task_id: ["not", "a", "dict"]
    assert_error(client.get("/api", query_string={"task_id": "x"}), 500)


def test_a_fault_in_get_task_id_is_a_500(client, service):
    service.get_task_id = lambda **params: 1 / 0
    assert_error(client.post("/api", json={"data": {"name": "a"}}), 500)


def test_a_store_that_cannot_hold_the_params_is_a_400(client, service):
    def refuse(task):
        raise UnencodableValueError("params of type dict cannot be stored")

    service.repository.insert = refuse
    body = assert_error(client.post("/api", json={"data": {"name": "a"}}), 400)
    assert body["error_data"][0]["problem"] == "unencodable"


def test_a_store_under_heavy_contention_is_a_503_to_retry(client, service):
    def contended(task_id):
        raise SubmissionConflictError("submission of task 'task-a' kept losing races")

    service.repository.get = contended
    answer = client.post("/api", json={"data": {"name": "a"}})
    assert assert_error(answer, 503)["error_data"][0]["problem"] == "busy"
    assert answer.headers["Retry-After"] == "1"


def test_a_store_that_is_down_is_a_503_that_does_not_echo_driver_details(client, service):
    def down(task_id):
        raise StoreUnavailableError("mongodb://admin:hunter2@db:27017 refused the connection")

    service.repository.get = down
    answer = client.get("/api", query_string={"task_id": "a"})
    body = assert_error(answer, 503)
    assert body["error_msg"] == "the task store is unavailable; retry shortly"
    assert "hunter2" not in answer.get_data(as_text=True) and answer.headers["Retry-After"] == "1"
