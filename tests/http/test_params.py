"""Params are checked against main's signature and its simple type hints, and described as JSON Schema."""

from __future__ import annotations

import typing
from typing import Any, Literal, Optional, Union

import pytest

from asynctask import AsyncTask, InMemoryTaskRepository, InvalidParamsError
from asynctask.service.params import MainParams, describe, fits, hint_schema


def problems(main, **params) -> list[tuple[str, str]]:
    try:
        MainParams(main).check(params)
    except InvalidParamsError as exc:
        return [(d["param"], d["problem"]) for d in exc.details]
    return []


def typed_main(count: int, ratio: float = 1.0, name: str | None = None, flag: bool = False, logger=None):
    """Example."""


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"count": 1}, []),
        ({"count": True}, [("count", "type")]),
        ({"count": 1.0}, []),  # JSON Schema's integer: a whole number, however it is written
        ({"count": 1.5}, [("count", "type")]),
        ({"count": 2.0**63}, [("count", "type")]),
        ({"count": "1"}, [("count", "type")]),
        ({"count": 1, "ratio": 2}, []),
        ({"count": 1, "ratio": False}, [("ratio", "type")]),
        ({"count": 1, "name": None}, []),
        ({"count": 1, "name": 5}, [("name", "type")]),
        ({"count": 1, "flag": 0}, [("flag", "type")]),
        ({"count": None}, [("count", "type")]),
    ],
)
def test_simple_hints_are_checked_the_json_way(params, found):
    assert problems(typed_main, **params) == found


def test_a_wrong_type_names_the_param_and_what_was_expected():
    with pytest.raises(InvalidParamsError) as caught:
        MainParams(typed_main).check({"count": "three"})
    (detail,) = caught.value.details
    assert detail == {
        "param": "count",
        "problem": "type",
        "expected": "integer",
        "got": "string",
        "message": "'count' must be an integer, got \"three\"",
    }
    assert "'count' must be an integer" in str(caught.value)


def test_missing_unexpected_and_mistyped_params_are_reported_together():
    assert problems(typed_main, ratio="x", colour="red") == [
        ("count", "missing"),
        ("colour", "unexpected"),
        ("ratio", "type"),
    ]


def test_a_main_without_annotations_takes_any_json_value():
    def main(a, b=None, logger=None):
        """No hints."""

    assert problems(main, a={"deep": [1, None]}, b=[True]) == []


def test_a_main_with_kwargs_takes_extra_params_unchecked_but_never_logger():
    def main(a: int, logger=None, **rest):
        """Kwargs."""

    assert problems(main, a=1, anything=object()) == []
    assert problems(main, a=1, logger=1) == [("logger", "reserved")]


def test_a_default_of_none_makes_null_acceptable():
    def main(a: int = None, logger=None):  # noqa: RUF013 - implicit Optional, as people write it
        """Implicit Optional."""

    assert problems(main, a=None) == [] and problems(main, a="x") == [("a", "type")]


def test_string_annotations_that_do_not_resolve_accept_anything():
    def main(a: NoSuchType, b: list[NoSuchType] = None, logger=None):  # noqa: F821
        """Forward references to nowhere."""

    assert problems(main, a=object(), b=1) == []


@pytest.mark.parametrize(
    ("hint", "schema"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (list, {"type": "array"}),
        (dict, {"type": "object"}),
        (None, {"type": "null"}),
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (typing.List[str], {"type": "array", "items": {"type": "string"}}),  # noqa: UP006
        (list[Any], {"type": "array"}),
        (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
        (dict[int, float], {"type": "object"}),
        (Optional[int], {"anyOf": [{"type": "integer"}, {"type": "null"}]}),  # noqa: UP045
        (int | None, {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
        (Union[int, str], {"anyOf": [{"type": "integer"}, {"type": "string"}]}),  # noqa: UP007
        (Union[int, Any], {}),  # noqa: UP007
        (Literal["a", 1], {"enum": ["a", 1]}),
        (Any, {}),
        (tuple, {}),
        (set[int], {}),
        (object, {}),
    ],
)
def test_hints_map_to_json_schema(hint, schema):
    assert hint_schema(hint) == schema


@pytest.mark.parametrize(
    ("value", "schema", "result"),
    [
        ([1, 2], {"type": "array", "items": {"type": "integer"}}, True),
        ([1, "2"], {"type": "array", "items": {"type": "integer"}}, False),
        ({"a": 1.5}, {"type": "object", "additionalProperties": {"type": "number"}}, True),
        ({"a": "x"}, {"type": "object", "additionalProperties": {"type": "number"}}, False),
        (True, {"enum": [1]}, False),
        (1, {"enum": [1]}, True),
        ("anything", {}, True),
    ],
)
def test_fits_checks_containers_and_enums_strictly(value, schema, result):
    assert fits(value, schema) is result


def test_describe_puts_a_schema_in_plain_words():
    assert describe({"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]}) == (
        "array of string or null"
    )
    assert describe({"enum": ["fast", "slow"]}) == 'one of "fast", "slow"'


def test_the_json_schema_of_params_has_types_defaults_requirements_and_descriptions(typed):
    schema = MainParams(typed.main).json_schema({"text": "the text"})
    assert schema["required"] == ["text"] and schema["additionalProperties"] is False
    assert schema["properties"]["text"] == {"type": "string", "description": "the text"}
    assert schema["properties"]["times"] == {"type": "integer", "default": 1}
    assert schema["properties"]["extra"] == {"default": None}
    assert "logger" not in schema["properties"]


def test_run_in_python_and_a_post_give_the_same_answer_to_a_mistyped_param(tmp_path):
    class Typed(AsyncTask):
        def main(self, count: int, ratio: float = 1.0, logger=None):
            return count * ratio

    api = Typed(repository=InMemoryTaskRepository(), logger_dir=str(tmp_path))
    with pytest.raises(InvalidParamsError) as raised:
        api.run(count="x")
    posted = api.app("/api").test_client().post("/api", json={"data": {"count": "x"}})
    assert posted.status_code == 400 and posted.json["error_data"] == raised.value.details
    assert posted.json["error_msg"] == str(raised.value)
    api.shutdown()


def test_a_whole_number_written_as_a_float_reaches_main_as_an_int(tmp_path):
    class Counted(AsyncTask):
        def main(self, count: int, sizes: list[int] | None = None, logger=None):
            return [type(count).__name__, [type(size).__name__ for size in sizes or []]]

    with Counted(repository=InMemoryTaskRepository(), logger_dir=str(tmp_path)) as api:
        client = api.app("/api").test_client()
        task_id = client.post("/api", json={"data": {"count": 3.0, "sizes": [1.0, 2]}}).json["data"][
            "task_id"
        ]
        python_id = api.run(count=4.0)
        assert api.wait(5)
        assert api.retrieve(task_id)["result"] == ["int", ["int", "int"]]
        assert api.retrieve(python_id)["result"] == ["int", []]


def test_a_whole_float_is_the_literal_int_choice_it_equals():
    def main(size: Literal[1, 2] = 1, logger=None):
        return size

    params = MainParams(main)
    assert params.check({"size": 2.0}) == {"size": 2} and type(params.check({"size": 2.0})["size"]) is int
    with pytest.raises(InvalidParamsError):
        params.check({"size": 3.0})
    with pytest.raises(InvalidParamsError):
        params.check({"size": True})
