"""Generated requests, good and bad: never a 5xx, always an envelope of standard JSON, never a traceback."""

import json
import string

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.http.envelopes import ENVELOPE, strict_json

PARAM_NAMES = [
    "text",
    "times",
    "ratio",
    "loud",
    "tags",
    "weights",
    "note",
    "mode",
    "extra",
    "logger",
    "task_id",
]
JSON_TYPES = ["application/json", "application/json; charset=utf-8", "application/problem+json"]
OTHER_TYPES = [None, "application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"]
KNOWN_IDS = ["typed-a-1", "typed-b-2", "", "nope"]

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10,
)
finite = st.floats(allow_nan=False, allow_infinity=False)
good_params = st.fixed_dictionaries(
    {"text": st.sampled_from(["a", "b"]) | st.text(max_size=6)},
    optional={
        "times": st.integers(0, 2),
        "ratio": finite | st.integers(),
        "loud": st.booleans(),
        "tags": st.none() | st.lists(st.text(max_size=3), max_size=3),
        "weights": st.dictionaries(st.text(max_size=3), finite, max_size=3),
        "note": st.none() | st.text(max_size=5),
        "mode": st.sampled_from(["fast", "slow"]),
        "extra": json_values,
    },
)
any_params = st.dictionaries(st.sampled_from(PARAM_NAMES) | st.text(max_size=6), json_values, max_size=5)
bodies = st.one_of(
    st.builds(lambda data: {"data": data}, good_params),
    st.builds(lambda data: {"data": data}, any_params),
    st.builds(lambda data: {"data": data}, json_values),
    st.fixed_dictionaries({"data": st.fixed_dictionaries({"task_id": st.sampled_from(KNOWN_IDS)})}),
    st.fixed_dictionaries({"task_id": json_values | st.sampled_from(KNOWN_IDS)}),
    json_values,
)
json_requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["POST", "POST", "GET"]),
        "path": st.just("/api"),
        "query_string": st.none() | st.fixed_dictionaries({"task_id": st.sampled_from(KNOWN_IDS)}),
        "content_type": st.sampled_from(JSON_TYPES),
        "data": bodies.map(lambda body: json.dumps(body).encode()),
    }
)
queries = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"task_id": st.lists(st.sampled_from(KNOWN_IDS) | st.text(max_size=8), max_size=3)}
    ),
    st.text(alphabet=string.printable, max_size=30),
)
raw_bodies = st.one_of(
    st.none(),
    bodies.map(lambda body: json.dumps(body).encode()),
    st.binary(max_size=40),
    st.text(max_size=40).map(lambda text: text.encode("utf-8", "surrogatepass")),
)
paths = st.one_of(
    st.just("/api"),
    st.sampled_from(["/api/openapi.json", "/ping", "/api/", "/nowhere"]),
    st.text(alphabet=string.ascii_letters + "._-%", max_size=12).map("/".__add__),
)
any_requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "GET", "POST", "PUT", "DELETE", "PATCH"]),
        "path": paths,
        "query_string": queries,
        "content_type": st.sampled_from(JSON_TYPES + OTHER_TYPES),
        "data": raw_bodies,
    }
)


# One app for all examples on purpose: tasks stored by earlier examples are polled and rerun by later
# ones. Derandomized and bounded, so CI runs the same 500 requests (about a second) every time.
@settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=json_requests | any_requests, run_tasks=st.booleans())
def test_no_request_gets_a_5xx_a_non_envelope_or_a_traceback(
    typed_client, typed, executor, request, run_tasks
):
    if run_tasks:
        executor.run_all()
    stored, pending = len(typed.repository), len(executor.pending)
    answer = typed_client.open(**{key: value for key, value in request.items() if value is not None})
    where = "/api" if request["path"] == "/api" else "elsewhere"
    event(f"{request['method']} {where} {answer.status_code}")
    text = answer.get_data(as_text=True)
    assert answer.status_code < 500, text
    assert "Traceback" not in text and 'File "' not in text
    body = strict_json(answer)
    if request["path"] == "/api/openapi.json" and answer.status_code == 200:
        assert body["openapi"] == "3.1.0"
        return
    assert set(body) == ENVELOPE and body["status"] in ("ok", "error")
    if answer.status_code >= 400:
        assert body["status"] == "error" and body["error_msg"]
        assert len(typed.repository) == stored and len(executor.pending) == pending
    elif request["path"] == "/api":
        assert body["status"] == "ok" and isinstance(body["data"]["task_id"], str)
