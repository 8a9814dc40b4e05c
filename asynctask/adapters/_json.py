"""JSON encoding shared by the stores that keep values as JSON."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
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


class FrozenValue:
    """A value kept as JSON text: ``copy()`` gives a fresh copy that shares nothing with the store."""

    __slots__ = ("text", "_copy")

    def __init__(self, text: str) -> None:
        self.text = text
        self._copy: Callable[[], Any] | None = None

    def copy(self) -> Any:
        """A fresh copy of the value: parsed from the text, or copied from a parsed template."""
        make = self._copy
        if make is None:  # the first read; a race only parses twice
            make = self._copy = _copier(json.loads(self.text), self.text)
        return make()


#: A task's params, result and extra, as JSON text.
Frozen = tuple[FrozenValue, FrozenValue, FrozenValue]

_VALUES = (("params", "params"), ("result", "result"), ("extra", "extra fields"))
_IMMUTABLE = frozenset([str, int, float, bool, type(None)])
_NULL, _EMPTY = FrozenValue("null"), FrozenValue("{}")


def freeze(task: Task, previous: tuple[Task, Frozen] | None = None) -> Frozen:
    """The values of ``task`` as JSON text, or ``UnencodableValueError``.

    ``previous``: the stored task and its text; a value that is the very same
    object as there (a change that did not touch it) keeps its text.
    """
    frozen = []
    for index, (name, what) in enumerate(_VALUES):
        value = getattr(task, name)
        if previous is not None and value is getattr(previous[0], name):
            frozen.append(previous[1][index])
        elif value is None:
            frozen.append(_NULL)
        elif type(value) is dict and not value:
            frozen.append(_EMPTY)
        else:
            frozen.append(FrozenValue(dumps(value, what)))
    return frozen[0], frozen[1], frozen[2]


def thaw(task: Task, frozen: Frozen) -> Task:
    """``task`` with fresh copies of its values, read back from ``frozen``."""
    params, result, extra = frozen
    return task.with_canonical(params=params.copy(), result=result.copy(), extra=extra.copy())


def _copier(template: Any, text: str) -> Callable[[], Any]:
    """The cheapest way to copy ``template`` (parsed from ``text``) so that no copy shares a part."""
    if type(template) in _IMMUTABLE:
        return lambda: template
    if type(template) is dict and all(type(item) in _IMMUTABLE for item in template.values()):
        return functools.partial(dict, template)  # flat: a shallow copy is a full copy
    if type(template) is list and all(type(item) in _IMMUTABLE for item in template):
        return functools.partial(list, template)
    return functools.partial(json.loads, text)
