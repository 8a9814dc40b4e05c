"""Reading a request's JSON strictly: the right content type, standard JSON, sane values."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from asynctask.core import InvalidTaskIdError, check_task_id
from asynctask.http.envelope import ApiError, detail
from asynctask.service.params import INT_MAX, INT_MIN

#: How deeply arrays and objects may nest in a body.
MAX_DEPTH = 64
JSON_TYPE_HINT = (
    "send Content-Type: application/json (with curl: -H 'Content-Type: application/json', or --json)"
)


class _Refused(ValueError):
    """A JSON text that parses but that the API does not accept."""

    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem


def read_object(shape: str) -> dict | None:
    """The request body as a JSON object, ``None`` when there is no body; ``shape`` names what is expected."""
    raw = request.get_data(cache=True)
    if not raw:
        return None
    if not request.is_json:
        got = request.mimetype or "no Content-Type"
        message = f"the body must be JSON, got {got}; {JSON_TYPE_HINT}"
        raise ApiError(
            415,
            message,
            [detail("Content-Type", "unsupported", message, expected="application/json", got=got)],
        )
    body = strict_loads(raw)
    if not isinstance(body, dict):
        message = f"the body must be a JSON object {shape}, got {_json_name(body)}"
        raise ApiError(400, message, [detail("body", "not_an_object", message)])
    return body


def strict_loads(raw: bytes | str) -> Any:
    """Standard JSON only: no NaN/Infinity, no duplicate keys, 64-bit integers, bounded nesting."""
    try:
        text = raw if isinstance(raw, str) else raw.decode(json.detect_encoding(raw), "surrogatepass")
        value = _DECODER.decode(text)  # as json.loads would decode it
    except _Refused as exc:
        raise _invalid(exc.problem, str(exc)) from None
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise _invalid("invalid_json", f"the body is not valid JSON: {exc}") from None
    _check_values(value)
    return value


def task_id_problem(value: Any, field: str) -> ApiError | None:
    """The error for a ``task_id`` that is not a non-empty string (the core's one rule), or ``None``."""
    try:
        check_task_id(value, field)
    except InvalidTaskIdError as exc:
        return ApiError(400, str(exc), [detail(exc.field, exc.problem, str(exc))])
    return None


def _refuse_constant(name: str) -> Any:
    raise _Refused("non_standard_number", f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    # Refused by its length before it is converted: thousands of digits cost quadratic time.
    value = int(text) if len(text) <= 20 else None
    if value is None or not INT_MIN <= value <= INT_MAX:
        raise _Refused("out_of_range", f"the number {text[:30]} is outside the signed 64-bit range")
    return value


def _bounded_float(text: str) -> float:
    # JSON Schema counts 1e20 as an integer: one range for every number keeps the OpenAPI document true.
    value = float(text)
    if not INT_MIN <= value <= INT_MAX:
        raise _Refused("out_of_range", f"the number {text[:30]} is outside the signed 64-bit range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    unique = dict(pairs)
    if len(unique) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise _Refused("duplicate_key", f"the key {duplicate!r} appears twice in one object")
    return unique


#: One decoder for every body (``json.loads`` with options builds a new one per call); it is stateless.
_DECODER = json.JSONDecoder(
    parse_constant=_refuse_constant,
    parse_int=_bounded_int,
    parse_float=_bounded_float,
    object_pairs_hook=_unique_keys,
)


def _check_values(value: Any) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` and strings that are not valid Unicode (lone surrogates)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is str:
            _check_text(item)
        elif kind is dict or kind is list:
            if depth > MAX_DEPTH:
                raise _too_deep()
            children = item.values() if kind is dict else item
            stack.extend((child, depth + 1) for child in children)
            if kind is dict:
                stack.extend((key, depth) for key in item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _invalid(
            "invalid_unicode", "a string holds a lone surrogate (\\ud800-\\udfff escape)"
        ) from None


def _invalid(problem: str, message: str) -> ApiError:
    return ApiError(400, message, [detail("body", problem, message)])


def _too_deep() -> ApiError:
    return _invalid("too_deep", f"the body nests arrays and objects more than {MAX_DEPTH} levels deep")


def _json_name(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
