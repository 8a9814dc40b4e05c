"""Over HTTP, params are checked against main's type hints before anything is stored or run."""

import pytest

from tests.http.envelopes import assert_error, assert_ok


@pytest.mark.parametrize(
    "params",
    [
        {"text": "a"},
        {"text": "a", "times": 3, "ratio": 1, "loud": True},
        {"text": "a", "tags": ["x", "y"], "weights": {"x": 0.5, "y": 2}, "note": None, "mode": "slow"},
        {"text": "a", "tags": None, "extra": {"anything": [1, "goes", None]}},
    ],
)
def test_params_of_the_hinted_types_are_accepted(typed_client, params):
    assert assert_ok(typed_client.post("/api", json={"data": params}))["status"] == "running"


@pytest.mark.parametrize(
    ("params", "param", "expected"),
    [
        ({"text": 1}, "text", "string"),
        ({"text": "a", "times": True}, "times", "integer"),
        ({"text": "a", "times": 1.5}, "times", "integer"),
        ({"text": "a", "ratio": "0.5"}, "ratio", "number"),
        ({"text": "a", "loud": "yes"}, "loud", "boolean"),
        ({"text": "a", "tags": "x"}, "tags", "array of string or null"),
        ({"text": "a", "tags": ["x", 2]}, "tags", "array of string or null"),
        ({"text": "a", "weights": {"x": "heavy"}}, "weights", "object of number"),
        ({"text": "a", "weights": None}, "weights", "object of number"),
        ({"text": "a", "note": 3}, "note", "string or null"),
        ({"text": "a", "mode": "medium"}, "mode", 'one of "fast", "slow"'),
    ],
)
def test_a_param_of_the_wrong_type_is_a_400_naming_it_and_nothing_is_stored(
    typed_client, typed, executor, params, param, expected
):
    body = assert_error(typed_client.post("/api", json={"data": params}), 400)
    assert body["error_data"] == [
        {
            "param": param,
            "problem": "type",
            "expected": expected,
            "got": body["error_data"][0]["got"],
            "message": body["error_data"][0]["message"],
        }
    ]
    assert f"'{param}' must be" in body["error_msg"]
    assert len(typed.repository) == 0 and not executor.pending


def test_a_rerun_by_task_id_alone_needs_no_params(typed_client, executor):
    assert_ok(typed_client.post("/api", json={"data": {"text": "a"}}))
    executor.run_all()
    assert assert_ok(typed_client.post("/api", json={"data": {"task_id": "typed-a-1"}}))["attempt"] == 1
