"""The one rule for task ids: a non-empty string, whoever submits it (Python, HTTP, a store)."""

from __future__ import annotations

from typing import Any

from asynctask.core.errors import InvalidTaskIdError

_KINDS = {dict: "an object", list: "an array", tuple: "an array", bool: "a boolean", type(None): "null"}


def check_task_id(value: Any, field: str = "task_id") -> str:
    """``value`` if it is a usable task id; else ``InvalidTaskIdError`` saying what it is instead."""
    if isinstance(value, str) and value:
        return value
    if value == "":
        raise InvalidTaskIdError(f"{field} must be a non-empty string, got an empty string", field, "empty")
    got = _KINDS.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)
    raise InvalidTaskIdError(f"{field} must be a non-empty string, got {got}", field, "not_a_string")
