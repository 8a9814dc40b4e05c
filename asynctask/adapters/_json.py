"""JSON encoding shared by the stores that keep values as JSON."""

from __future__ import annotations

import json
from typing import Any

from asynctask.core import Task, UnencodableValueError


def dumps(value: Any, what: str) -> str:
    """``value`` as JSON text, or ``UnencodableValueError`` naming ``what``."""
    try:
        text = json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise UnencodableValueError(
            f"{what} of type {type(value).__name__} cannot be stored as JSON: {exc}"
        ) from exc
    _check_keys(value, what)
    return text


def _check_keys(value: Any, what: str) -> None:
    # json.dumps turns {1: "a"} into {"1": "a"}; a store must give back what it got, or refuse.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise UnencodableValueError(f"{what} has a dict key {key!r} that is not a string")
                if isinstance(child, (dict, list, tuple)):
                    stack.append(child)
        elif isinstance(item, (list, tuple)):
            stack.extend(child for child in item if isinstance(child, (dict, list, tuple)))


#: A task's params, result and extra, as JSON text.
Frozen = tuple[str, str, str]


_VALUES = (("params", "params"), ("result", "result"), ("extra", "extra fields"))


def freeze(task: Task, previous: tuple[Task, Frozen] | None = None) -> Frozen:
    """The values of ``task`` as JSON text, or ``UnencodableValueError``.

    ``previous``: the stored task and its text; a value that is the very same
    object as there (a change that did not touch it) keeps its text.
    """
    texts = []
    for index, (name, what) in enumerate(_VALUES):
        value = getattr(task, name)
        if previous is not None and value is getattr(previous[0], name):
            texts.append(previous[1][index])
        else:
            texts.append(dumps(value, what))
    return texts[0], texts[1], texts[2]


def thaw(task: Task, frozen: Frozen) -> Task:
    """``task`` with fresh copies of its values, read back from ``frozen``."""
    params, result, extra = (json.loads(text) for text in frozen)
    return task.with_canonical(params=params, result=result, extra=extra)
