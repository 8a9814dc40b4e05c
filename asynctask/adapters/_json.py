"""JSON encoding shared by the stores that keep values as JSON."""

from __future__ import annotations

import json
from typing import Any

from attrs import evolve

from asynctask.core import Task, UnencodableValueError


def dumps(value: Any, what: str) -> str:
    """``value`` as JSON text, or ``UnencodableValueError`` naming ``what``."""
    try:
        return json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise UnencodableValueError(
            f"{what} of type {type(value).__name__} cannot be stored as JSON: {exc}"
        ) from exc


def copy_values(task: Task) -> Task:
    """The task with params, result and extra as a store would give them back."""
    return evolve(
        task,
        params=json.loads(dumps(task.params, "params")),
        result=json.loads(dumps(task.result, "result")),
        extra=json.loads(dumps(task.extra, "extra fields")),
    )
