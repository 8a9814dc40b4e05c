"""Values through a store: given back exactly and as copies, or refused whole."""

from __future__ import annotations

import itertools
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asynctask.core import UnencodableValueError


class Opaque:
    """An object no store knows how to hold."""


UNENCODABLE = [
    pytest.param({"result": {1, 2, 3}}, id="a set as result"),
    pytest.param({"result": Opaque()}, id="an object as result"),
    pytest.param({"params": {"when": {1, 2}}}, id="a set inside params"),
    pytest.param({"extra": {"owner": Opaque()}}, id="an object in an extra field"),
]

# Values some stores hold and others cannot: each store must either give the
# value back exactly or refuse it with UnencodableValueError, never change it
# silently nor fail with a driver's own error.
BORDERLINE = [
    pytest.param(-(2**63), id="the smallest 64-bit integer"),
    pytest.param(2**64, id="an integer beyond 64 bits"),
    pytest.param({1: "one"}, id="a dict with an integer key"),
    pytest.param({"a\x00b": 1}, id="a key with a NUL character"),
    pytest.param({"$set": 1}, id="a key starting with a dollar"),
    pytest.param({"a.b": 1}, id="a key with a dot"),
    pytest.param("a\x00b", id="text with a NUL character"),
]


def typed(value: Any) -> Any:
    """``value`` with its JSON kind beside every scalar, so ``True == 1 == 1.0`` no longer holds."""
    if isinstance(value, dict):
        return {typed(key): typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    kinds = (bool, int, float, str, type(None))  # bool before int; bson's Int64 is an int
    return (next((kind for kind in kinds if isinstance(value, kind)), type(value)).__name__, value)


@pytest.mark.parametrize("overrides", UNENCODABLE)
def test_inserting_a_value_the_store_cannot_hold_raises_and_writes_nothing(repository, make_task, overrides):
    with pytest.raises(UnencodableValueError):
        repository.insert(make_task(**overrides))

    assert repository.get("task-1") is None
    assert repository.insert(make_task()) is True


@pytest.mark.parametrize("overrides", UNENCODABLE)
def test_replacing_with_a_value_the_store_cannot_hold_raises_and_keeps_the_stored_task(
    repository, make_task, overrides
):
    stored = make_task()
    repository.insert(stored)
    changed = attrs.evolve(stored, version=stored.version + 1, **overrides)

    with pytest.raises(UnencodableValueError):
        repository.replace(changed, expected_version=stored.version)

    assert repository.get(stored.task_id) == stored


@pytest.mark.parametrize("value", BORDERLINE)
def test_a_borderline_value_is_inserted_exactly_or_refused_cleanly(repository, make_task, value):
    try:
        inserted = repository.insert(make_task(result=value))
    except UnencodableValueError:
        assert repository.get("task-1") is None
    else:
        assert inserted is True
        assert typed(repository.get("task-1").result) == typed(value)


@pytest.mark.parametrize("value", BORDERLINE)
def test_a_borderline_value_replaces_exactly_or_is_refused_cleanly(repository, make_task, value):
    stored = make_task()
    repository.insert(stored)
    changed = attrs.evolve(stored, version=stored.version + 1, result=value)
    try:
        replaced = repository.replace(changed, expected_version=stored.version)
    except UnencodableValueError:
        assert repository.get("task-1") == stored
    else:
        assert replaced is True
        assert typed(repository.get("task-1").result) == typed(value)


def test_changing_a_task_that_was_read_does_not_change_the_store(repository, make_task):
    repository.insert(make_task())

    got = repository.get("task-1")
    got.params["n"] = 999
    got.params["options"]["tags"].append("mutated")
    got.result["items"].clear()
    got.extra["owner"] = "someone else"

    assert repository.get("task-1") == make_task()


def test_changing_a_task_after_writing_it_does_not_change_the_store(repository, make_task, now):
    inserted = make_task()
    repository.insert(inserted)
    inserted.params["options"]["tags"].append("mutated")
    inserted.result["items"].clear()
    assert repository.get("task-1") == make_task()

    replaced = make_task().updated({"note": "edited"}, now)
    repository.replace(replaced, expected_version=make_task().version)
    replaced.params["n"] = 999
    replaced.extra["note"] = "changed after the write"
    assert repository.get("task-1") == make_task().updated({"note": "edited"}, now)


# MongoDB reserves NUL, dots and a leading dollar in field names; the
# borderline tests above hold stores to a clean refusal of those.
KEYS = st.text(st.characters(exclude_characters="\x00."), max_size=8).filter(
    lambda key: not key.startswith("$")
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=16)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=16,
)

# The repository lives across examples, so each example writes under new ids.
_example_ids = itertools.count()


@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(params=st.dictionaries(KEYS, JSON_VALUES, max_size=4), result=JSON_VALUES)
def test_json_like_params_and_results_come_back_exactly(repository, make_task, params, result):
    example = next(_example_ids)
    inserted = make_task(task_id=f"inserted-{example}", params=params, result=result)
    assert repository.insert(inserted) is True

    stored = make_task(task_id=f"replaced-{example}")
    repository.insert(stored)
    replaced = attrs.evolve(stored, version=stored.version + 1, params=params, result=result)
    assert repository.replace(replaced, expected_version=stored.version) is True

    for task_id in (inserted.task_id, replaced.task_id):
        got = repository.get(task_id)
        assert (typed(got.params), typed(got.result)) == (typed(params), typed(result))
