"""Results JSON cannot carry as they are are encoded, never a crash, and answers stay standard JSON."""

import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum

import pytest
from bson import ObjectId

from asynctask.http.encoding import dumps, plain
from tests.http.envelopes import assert_ok, strict_json


class Colour(Enum):
    RED = "red"


@dataclass
class Point:
    x: float
    y: float


@pytest.mark.parametrize(
    ("result", "answered"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=timezone.utc), "2026-01-02T03:04:05.006000+00:00"),
        (date(2026, 1, 2), "2026-01-02"),
        (ObjectId("65a1b2c3d4e5f60718293a4b"), "65a1b2c3d4e5f60718293a4b"),
        (b"\x00\xffbytes", "AP9ieXRlcw=="),
        (Decimal("1.10"), "1.10"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (Colour.RED, "red"),
        (Point(1.0, math.nan), {"x": 1.0, "y": None}),
        ({3, 1, 2}, [1, 2, 3]),
        ((1, "a"), [1, "a"]),
        (math.nan, None),
        ([math.inf, -math.inf, 1.5], [None, None, 1.5]),
        (
            {1: "int key", None: "none key", "s": "str key"},
            {"1": "int key", "null": "none key", "s": "str key"},
        ),
        ({(1, 2): "tuple key"}, {"(1, 2)": "tuple key"}),
        (object, "<class 'object'>"),
    ],
    ids=lambda value: type(value).__name__,
)
def test_a_result_json_cannot_carry_is_encoded(client, service, result, answered):
    service.retrieve = lambda task_id: {"status": "success", "result": result}
    assert assert_ok(client.get("/api", query_string={"task_id": "x"}))["result"] == answered


def test_a_task_whose_result_holds_nan_answers_null_in_standard_json(client, service, executor):
    task_id = service.run(name="a", value={"score": math.nan, "ok": 1.0})
    executor.run_all()
    answer = client.get("/api", query_string={"task_id": task_id})
    assert strict_json(answer)["data"]["result"] == {"score": None, "ok": 1.0}


def test_a_cyclic_result_is_cut_instead_of_crashing():
    looped: list = [1]
    looped.append(looped)
    assert plain({"loop": looped}) == {"loop": [1, None]}
    assert dumps(looped) == "[1,null]"


def test_answers_are_compact_with_sorted_keys():
    assert dumps({"b": 1, "a": [True, None]}) == '{"a":[true,null],"b":1}'


def test_non_ascii_text_is_escaped_so_any_client_reads_it():
    assert dumps({"text": "héllo ✓"}) == '{"text":"h\\u00e9llo \\u2713"}'
