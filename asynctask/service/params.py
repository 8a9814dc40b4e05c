"""Checking submitted params against the signature (and simple type hints) of ``main``."""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from asynctask.core import InvalidParamsError

#: The range of every number a submission may hold: what every store (BSON int64 too) keeps; one range
#: for floats as well, since JSON Schema counts 1e20 as an integer.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
#: The keyword ``main`` receives its logger by; never a client's param.
LOGGER = "logger"
#: The keyword ``main`` receives its progress callable by, if it declares it; never a client's param.
PROGRESS = "progress"
#: Names a client can never pass as params, and why.
RESERVED = {
    LOGGER: "'logger' is passed by AsyncTask",
    PROGRESS: "'progress' is passed by AsyncTask",
    "self": "'self' cannot be a param",
}
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
#: JSON Schema type names and the Python values a JSON document decodes them to.
_JSON_TYPES: Mapping[str, type | tuple[type, ...]] = {
    "null": type(None),
    "boolean": bool,
    "integer": int,
    "number": (int, float),
    "string": str,
    "array": list,
    "object": dict,
}
_SIMPLE_HINTS: Mapping[Any, str] = {
    type(None): "null",
    None: "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def main_signature(main: Callable, owner: str) -> inspect.Signature:
    """The signature of ``main``, checked to accept ``logger`` by keyword."""
    signature = inspect.signature(main)
    parameters = signature.parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    logger = parameters.get(LOGGER)
    if logger is None and not takes_kwargs:
        raise TypeError(f"{owner}.main must accept a 'logger' keyword argument (or **kwargs)")
    if logger is not None and logger.kind is inspect.Parameter.POSITIONAL_ONLY:
        raise TypeError(f"{owner}.main must accept 'logger' by keyword, not positional-only")
    return signature


class MainParams:
    """What ``main`` accepts from a client: names, defaults and the JSON types of simple hints.

    Hints that are simple (``str``, ``int``, ``float``, ``bool``, ``list``, ``dict``,
    ``list[X]``, ``dict[str, X]``, ``Literal``, ``Optional``/``X | None`` of those) are
    checked; any other hint, or none, accepts any JSON value. A default of ``None``
    makes ``null`` acceptable too. ``int`` refuses ``true``; ``float`` takes integers.
    """

    def __init__(self, main: Callable) -> None:
        self.signature = inspect.signature(main)
        self.takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in self.parameters)
        namespace = getattr(main, "__globals__", {})
        self.schemas = {p.name: _param_schema(p, namespace) for p in self.parameters if _is_client_param(p)}

    @property
    def parameters(self) -> list[inspect.Parameter]:
        """The parameters of ``main``, in order."""
        return list(self.signature.parameters.values())

    def check(self, params: Mapping) -> dict:
        """The params as ``main`` gets them; ``InvalidParamsError`` naming each missing, unexpected or
        mistyped one.

        JSON does not tell ``2`` from ``2.0``: a whole number written as a float
        is an integer, and ``main`` gets it as an ``int``.
        """
        _raise_if(_shape_problems(self.signature, params) + self.type_problems(params))
        return {name: as_declared(value, self.schemas.get(name, {})) for name, value in params.items()}

    def type_problems(self, params: Mapping) -> list[dict]:
        """One detail per param whose value does not have the type its hint asks for."""
        problems = []
        for name, value in params.items():
            schema = self.schemas.get(name)
            if schema is not None and not fits(value, schema):
                expected, got = describe(schema), json_type(value)
                problems.append(
                    {
                        "param": name,
                        "problem": "type",
                        "expected": expected,
                        "got": got,
                        "message": f"'{name}' must be {_a(expected)}, got {_shown(value)}",
                    }
                )
        return problems

    def json_schema(self, descriptions: Mapping[str, str] | None = None) -> dict:
        """A JSON Schema (2020-12) object of the params, with optional per-param descriptions."""
        properties, required = {}, []
        for parameter in self.parameters:
            if parameter.name not in self.schemas:
                continue
            schema = dict(self.schemas[parameter.name])
            if parameter.default is inspect.Parameter.empty:
                required.append(parameter.name)
            elif _is_json(parameter.default):
                schema["default"] = parameter.default
            if descriptions and parameter.name in descriptions:
                schema["description"] = descriptions[parameter.name]
            properties[parameter.name] = schema
        document: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
        if not self.takes_kwargs:
            document["additionalProperties"] = False
        return document


def fits(value: Any, schema: Mapping) -> bool:
    """Whether a decoded JSON ``value`` fits ``schema`` (the subset ``MainParams`` produces)."""
    if "anyOf" in schema:
        return any(fits(value, option) for option in schema["anyOf"])
    if "enum" in schema:
        return any(_same_choice(value, choice) for choice in schema["enum"])
    kind = schema.get("type")
    if kind is None or (kind == "integer" and _whole_float(value)):
        return True
    if not isinstance(value, _JSON_TYPES[kind]) or (
        isinstance(value, bool) and kind in ("integer", "number")
    ):
        return False
    if kind == "array" and "items" in schema:
        return all(fits(item, schema["items"]) for item in value)
    if kind == "object" and "additionalProperties" in schema:
        return all(fits(item, schema["additionalProperties"]) for item in value.values())
    return True


def as_declared(value: Any, schema: Mapping) -> Any:
    """``value`` with every whole float where ``schema`` asks for an integer made an ``int``."""
    if "anyOf" in schema:
        option = next((option for option in schema["anyOf"] if fits(value, option)), {})
        return as_declared(value, option)
    if (
        "enum" in schema
        and _whole_float(value)
        and any(type(c) is int and c == value for c in schema["enum"])
    ):
        return int(value)  # the choice it stands for
    kind = schema.get("type")
    if kind == "integer" and _whole_float(value):
        return int(value)
    if kind == "array" and "items" in schema and isinstance(value, list):
        return [as_declared(item, schema["items"]) for item in value]
    if kind == "object" and "additionalProperties" in schema and isinstance(value, dict):
        return {key: as_declared(item, schema["additionalProperties"]) for key, item in value.items()}
    return value


def _same_choice(value: Any, choice: Any) -> bool:
    """``value`` is the ``Literal`` choice: of its JSON type (a whole float is an int), and equal."""
    if type(choice) is int and _whole_float(value):
        return value == choice
    return type(value) is type(choice) and value == choice


def _whole_float(value: Any) -> bool:
    """A float JSON would write as an integer of 64 bits or less, such as ``2.0``."""
    return type(value) is float and value.is_integer() and INT_MIN <= value <= INT_MAX


def describe(schema: Mapping) -> str:
    """``schema`` in plain words: ``"integer"``, ``"string or null"``, ``"array of string"``."""
    if "anyOf" in schema:
        return " or ".join(describe(option) for option in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(choice) for choice in schema["enum"])
    kind = schema.get("type", "any JSON value")
    if kind == "array" and "items" in schema:
        return f"array of {describe(schema['items'])}"
    if kind == "object" and "additionalProperties" in schema:
        return f"object of {describe(schema['additionalProperties'])}"
    return kind


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value: ``string``, ``integer``, ``object`` ..."""
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if isinstance(value, _JSON_TYPES[name]):
            return name
    return type(value).__name__


def hint_schema(hint: Any) -> dict:
    """The JSON Schema of a simple type hint; ``{}`` (anything) for a hint it does not know."""
    if _is_simple(hint):
        return {"type": _SIMPLE_HINTS[hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return hint_schema(args[0])
    if origin in (typing.Union, types.UnionType):
        options = [hint_schema(arg) for arg in args]
        return {} if {} in options else {"anyOf": options}
    if origin is typing.Literal and all(_is_json(arg) for arg in args):
        return {"enum": list(args)}
    if origin is list and len(args) == 1:
        return _container("array", "items", hint_schema(args[0]))
    if origin is dict and len(args) == 2 and args[0] is str:
        return _container("object", "additionalProperties", hint_schema(args[1]))
    if origin in (list, dict):
        return {"type": _SIMPLE_HINTS[origin]}
    return {}


def _shown(value: Any) -> str:
    """A short text of a value for a message: small scalars as JSON, anything else by its type."""
    if isinstance(value, (str, int, float)) and len(text := json.dumps(value)) <= 40:
        return text
    return json_type(value)


def _a(noun: str) -> str:
    if noun.startswith(("one of", "null", "any")):
        return noun
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _is_simple(hint: Any) -> bool:
    try:
        return hint in _SIMPLE_HINTS
    except TypeError:  # an unhashable annotation object
        return False


def _container(kind: str, key: str, inner: dict) -> dict:
    return {"type": kind, key: inner} if inner else {"type": kind}


def _param_schema(parameter: inspect.Parameter, namespace: Mapping) -> dict:
    schema = hint_schema(_resolve(parameter.annotation, namespace))
    if schema and parameter.default is None and not fits(None, schema):
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


def _resolve(annotation: Any, namespace: Mapping) -> Any:
    """A string annotation evaluated in ``main``'s module; one that does not resolve means anything."""
    if annotation is inspect.Parameter.empty:
        return Any
    if isinstance(annotation, str):
        try:
            return eval(annotation, dict(namespace))  # the developer's own annotation text
        except Exception:
            return Any
    return annotation


def _is_client_param(parameter: inspect.Parameter) -> bool:
    return parameter.name not in (LOGGER, PROGRESS) and parameter.kind not in _VARIADIC


def wants_progress(main: Callable) -> bool:
    """``main`` declares a ``progress`` parameter (by keyword): it gets a progress callable."""
    parameter = inspect.signature(main).parameters.get(PROGRESS)
    return parameter is not None and parameter.kind is not inspect.Parameter.POSITIONAL_ONLY


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _shape_problems(signature: inspect.Signature, params: Mapping) -> list[dict]:
    details = []
    accepted = {n: p for n, p in signature.parameters.items() if _is_client_param(p)}
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    for name, parameter in accepted.items():
        if name not in params and parameter.default is inspect.Parameter.empty:
            details.append({"param": name, "problem": "missing", "message": f"'{name}' is required"})
    for name in params:
        if name in RESERVED:
            details.append({"param": name, "problem": "reserved", "message": RESERVED[name]})
        elif name not in accepted and not takes_kwargs:
            details.append({"param": name, "problem": "unexpected", "message": f"main takes no '{name}'"})
    return details


def _raise_if(details: list[dict]) -> None:
    if details:
        raise InvalidParamsError(
            "params do not fit main: " + "; ".join(d["message"] for d in details), details
        )
