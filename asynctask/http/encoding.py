"""Strict JSON out: any result becomes standard JSON text, never a crash and never ``NaN``."""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from datetime import date, datetime, time, timezone
from typing import Any

_SEPARATORS = (",", ":")


def dumps(value: Any) -> str:
    """``value`` as standard JSON: datetimes as ISO 8601 UTC, bytes as base64, NaN and infinities as null.

    Anything else JSON cannot carry (an ObjectId, a Decimal, a UUID, an object)
    becomes its text; keys that are not strings become text too.
    """
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError):  # NaN, mixed or odd keys, a cycle: take the careful path
        return json.dumps(plain(value), allow_nan=False, sort_keys=True, separators=_SEPARATORS)


def encode_value(value: Any) -> Any:
    """A JSON-ready stand-in for one value the ``json`` module does not know."""
    if isinstance(value, datetime):
        if value.tzinfo is timezone.utc:  # what every store gives back: the common, fast case
            return value.isoformat()
        aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return aware.astimezone(timezone.utc).isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def plain(value: Any, _active: frozenset[int] = frozenset()) -> Any:
    """``value`` rebuilt from JSON types only: string keys, finite numbers, no cycles."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int)):
        return value
    if id(value) in _active:
        return None  # a cycle: cut it
    active = _active | {id(value)}
    if isinstance(value, Mapping):
        return {_key(key): plain(item, active) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item, active) for item in value]
    return plain(encode_value(value), active)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, (bool, int, float)):
        return json.dumps(key)
    return str(encode_value(key))


#: One encoder for every answer (``json.dumps`` with options builds a new one per call); it is stateless.
_ENCODER = json.JSONEncoder(default=encode_value, allow_nan=False, sort_keys=True, separators=_SEPARATORS)
