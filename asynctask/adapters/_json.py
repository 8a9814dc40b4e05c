"""JSON encoding shared by the stores that keep values as JSON."""

from __future__ import annotations

import json
from typing import Any

from asynctask.core import UnencodableValueError


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
