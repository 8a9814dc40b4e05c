"""The OpenAPI 3.1 document of one task endpoint, generated from ``main``'s signature and docstring."""

from __future__ import annotations

import inspect
from typing import Any

from asynctask.core import MAX_PAGE, TaskStatus
from asynctask.http.docstring import parse_docstring
from asynctask.service.listing import CURSOR_PATTERN
from asynctask.service.logs import MAX_LOG_READ, MIN_LOG_READ
from asynctask.service.params import INT_MAX, INT_MIN, MainParams
from asynctask.service.watching import MAX_WAIT

OPENAPI_VERSION = "3.1.0"
_REF = "#/components/schemas/"
#: The error answers: status code, component name, description.
_ERRORS = {
    "400": (
        "BadRequest",
        "Invalid JSON, a body of the wrong shape, params main does not accept, a bad task_id",
    ),
    "401": ("Unauthorized", "No token, or not the service's: send Authorization: Bearer <token>"),
    "404": ("NotFound", "No task with this task_id"),
    "409": ("Finished", "The task has finished already, so it cannot be cancelled"),
    "413": ("TooLarge", "The body is larger than the limit"),
    "414": (
        "UriTooLong",
        "The URL is longer than the server reads (gunicorn: a request line over 4094 bytes)",
    ),
    "415": ("UnsupportedMediaType", "A body was sent with a Content-Type other than application/json"),
    "500": ("ServerError", "A fault in the server; the details are in the server's log only"),
}
_TIME = {"type": ["string", "null"], "format": "date-time", "description": "ISO 8601, UTC"}
#: One event of ``/events`` (OpenAPI 3.1 has no ``itemSchema``: tools read ``schema`` as the event's).
_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": _REF + "TaskDetail"},
            "description": "The task's detail, as JSON",
        },
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "The task's version"},
        "event": {"const": "message"},
        "retry": {"type": "integer"},
    },
}
_QUERY_TIME = {"type": "string", "format": "date-time", "examples": ["2026-12-01T08:00:00Z"]}
_INTEGER_RANGE = {"minimum": INT_MIN, "maximum": INT_MAX}
#: Any JSON value the body parser accepts: its numbers, at any depth, lie within the signed 64-bit range.
_JSON_VALUE = {
    "description": "Any JSON value; its numbers lie within the signed 64-bit range",
    "if": {"type": "number"},
    "then": _INTEGER_RANGE,
    "items": {"$ref": _REF + "JsonValue"},
    "additionalProperties": {"$ref": _REF + "JsonValue"},
}


def openapi_document(service: Any, endpoint: str, params: MainParams, *, secured: bool = False) -> dict:
    """The OpenAPI 3.1 document of submit (POST) and status (GET) at ``endpoint``, its list and its logs."""
    owner = type(service).__name__
    doc = parse_docstring(service.main.__doc__)  # its own docstring, not the one of AsyncTask.main
    summary = doc.summary or f"Run {owner}.main"
    document = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": owner,
            "version": "1",
            "summary": summary,
            "description": doc.description or inspect.cleandoc(type(service).__doc__ or ""),
        },
        "paths": {
            endpoint: {"post": _submit_operation(summary), "get": _status_operation(owner)},
            endpoint.rstrip("/") + "/tasks": {"get": _list_operation(owner)},
            endpoint.rstrip("/") + "/logs": {"get": _log_operation(owner)},
            endpoint.rstrip("/") + "/cancel": {"post": _cancel_operation(owner)},
            endpoint.rstrip("/") + "/counts": {"get": _counts_operation(owner)},
            endpoint.rstrip("/") + "/events": {"get": _events_operation(owner)},
        },
        "components": {
            "schemas": _schemas(_bounded(params.json_schema(doc.params))),
            "responses": _error_responses(),
        },
    }
    if secured:  # every operation asks for the bearer token, and may answer 401
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        document["security"] = [{"bearer": []}]
        for operations in document["paths"].values():
            for operation in operations.values():
                operation["responses"]["401"] = {"$ref": "#/components/responses/Unauthorized"}
    return document


def _submit_operation(summary: str) -> dict:
    return {
        "operationId": "submit",
        "summary": summary,
        "description": (
            "Validates the params against `main` before anything is stored, then submits the task "
            "(identical submissions share a task id and run once) and answers its detail at once. "
            '`{"data": {"task_id": ID}}` alone reruns a stored task with its stored params.'
        ),
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": _REF + "SubmitRequest"}}},
        },
        "responses": {
            "200": _task_answer("The task's detail"),
            **_error_refs("400", "404", "413", "415", "500"),
        },
    }


def _status_operation(owner: str) -> dict:
    return {
        "operationId": "status",
        "summary": f"The status, result and error of a {owner} task",
        "description": (
            'The task_id may also come in a JSON body: `{"task_id": ID}`. With `wait`, a long-poll: '
            "the answer comes as soon as the task's version is not `version` (default: the one stored "
            "when the request arrives) or the task is finished, else when `wait` seconds are over."
        ),
        "parameters": [
            {
                "name": "task_id",
                "in": "query",
                "required": True,
                "description": "The id a submission answered",
                "schema": {"type": "string", "minLength": 1},
            },
            _query(
                "wait",
                "Long-poll: wait up to this many seconds for a change",
                {"type": "number", "minimum": 0, "maximum": MAX_WAIT},
            ),
            _query(
                "version",
                "With wait: the version the client has seen (the detail's `version`)",
                {"type": "integer", "minimum": 0, "maximum": INT_MAX},
            ),
        ],
        "responses": {
            "200": _task_answer("The task's detail"),
            **_error_refs("400", "404", "413", "414", "415", "500"),
        },
    }


def _list_operation(owner: str) -> dict:
    return {
        "operationId": "list",
        "summary": f"A page of {owner} tasks, newest first",
        "description": (
            "Tasks by `create_time` descending. Pass the `next_cursor` of a page as `cursor` "
            "for the next one; it is null on the last page."
        ),
        "parameters": [
            _query("status", "Only tasks in this status", {"enum": [s.value for s in TaskStatus]}),
            _query("limit", "How many tasks at most", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
            _query(
                "cursor", "The next_cursor of the page before", {"type": "string", "pattern": CURSOR_PATTERN}
            ),
            _query(
                "since",
                "Only tasks created at or after this time (RFC 3339)",
                _QUERY_TIME,
            ),
            _query("until", "Only tasks created before this time (RFC 3339)", _QUERY_TIME),
        ],
        "responses": {
            "200": _answer("A page of task details", "TaskPage"),
            **_error_refs("400", "414", "500"),
        },
    }


def _log_operation(owner: str) -> dict:
    return {
        "operationId": "log",
        "summary": f"A piece of the log of a {owner} task",
        "description": (
            "The task's log file from byte `offset`, at most `limit` bytes, never splitting a "
            "UTF-8 character. Pass `next_offset` back as `offset` to read on; no log yet is empty text."
        ),
        "parameters": [
            {
                **_query("task_id", "The id a submission answered", {"type": "string", "minLength": 1}),
                "required": True,
            },
            _query("offset", "The byte to start at", {"type": "integer", "minimum": 0, "maximum": INT_MAX}),
            _query(
                "limit",
                "How many bytes at most",
                {"type": "integer", "minimum": MIN_LOG_READ, "maximum": MAX_LOG_READ},
            ),
        ],
        "responses": {
            "200": _answer("A piece of the log", "LogPiece"),
            **_error_refs("400", "404", "414", "500"),
        },
    }


def _counts_operation(owner: str) -> dict:
    counts = {"type": "integer", "minimum": 0}
    data = {
        "type": "object",
        "required": [status.value for status in TaskStatus],
        "properties": {status.value: counts for status in TaskStatus},
    }
    return {
        "operationId": "counts",
        "summary": f"How many {owner} tasks are in each status",
        "responses": {
            "200": {
                "description": "Tasks per status, as stored",
                "content": {"application/json": {"schema": _envelope(data, "ok", {"maxItems": 0})}},
            },
            **_error_refs("400", "414", "500"),
        },
    }


def _events_operation(owner: str) -> dict:
    return {
        "operationId": "events",
        "summary": f"A stream of the changes of a {owner} task (Server-Sent Events)",
        "description": (
            "One event per change (status, progress, outcome): `id` is the task's version, `data` its "
            "detail as JSON. A comment `: keep-alive` comes after 5 s without news. The stream ends "
            "after the finished detail. A client reconnecting with `Last-Event-ID` gets only newer "
            "versions; for a finished task it has seen, the answer is 204."
        ),
        "parameters": [
            {
                **_query("task_id", "The id a submission answered", {"type": "string", "minLength": 1}),
                "required": True,
            },
            {
                "name": "Last-Event-ID",
                "in": "header",
                "required": False,
                "description": "The id of the last event received",
                "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
            },
        ],
        "responses": {
            "200": {
                "description": "The event stream",
                "content": {"text/event-stream": {"schema": _EVENT}},
            },
            "204": {"description": "The task is finished and the client has seen its last version"},
            **_error_refs("400", "404", "414", "500"),
        },
    }


def _cancel_operation(owner: str) -> dict:
    body = {
        "type": "object",
        "required": ["task_id"],
        "properties": {"task_id": _task_id("The task to cancel")},
    }
    body["additionalProperties"] = {"$ref": _REF + "JsonValue"}  # ignored, but parsed as strictly
    return {
        "operationId": "cancel",
        "summary": f"Cancel a running {owner} task",
        "description": (
            "Records the task `failed` at once (its `error` ends with `TaskCancelledError: cancelled "
            "by request`) and answers its detail. A queued attempt never starts; a running one's late "
            "result is dropped. A later identical submission reruns it."
        ),
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {
            "200": _task_answer("The task's detail after the cancel"),
            **_error_refs("400", "404", "409", "413", "415", "500"),
        },
    }


def _query(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _schemas(params_schema: dict) -> dict:
    submit_data = {
        **params_schema,
        "properties": {**params_schema["properties"], "task_id": _task_id("Submit under this id")},
    }
    rerun = {"type": "object", "properties": {"task_id": _task_id("Rerun this stored task")}}
    rerun.update(required=["task_id"], additionalProperties=False)
    return {
        "JsonValue": _JSON_VALUE,
        "Params": params_schema,
        "SubmitRequest": {
            "type": "object",
            "required": ["data"],
            "properties": {"data": {"anyOf": [submit_data, rerun]}},
            "additionalProperties": {"$ref": _REF + "JsonValue"},  # ignored, but parsed as strictly
        },
        "TaskDetail": _task_detail_schema(),
        "Envelope": _envelope({"$ref": _REF + "TaskDetail"}, "ok", {"maxItems": 0}),
        "TaskPage": _envelope(
            {
                "type": "object",
                "required": ["tasks", "next_cursor"],
                "properties": {
                    "tasks": {"type": "array", "items": {"$ref": _REF + "TaskDetail"}},
                    "next_cursor": {"type": ["string", "null"], "description": "null on the last page"},
                },
            },
            "ok",
            {"maxItems": 0},
        ),
        "LogPiece": _envelope(
            {
                "type": "object",
                "required": ["task_id", "text", "next_offset"],
                "properties": {
                    "task_id": {"type": "string"},
                    "text": {"type": "string"},
                    "next_offset": {"type": "integer", "minimum": 0},
                },
            },
            "ok",
            {"maxItems": 0},
        ),
        "ErrorEnvelope": _envelope({"type": "null"}, "error", {"items": {"$ref": _REF + "ErrorDetail"}}),
        "ErrorDetail": {
            "type": "object",
            "description": "What was wrong: `param` or `field`, a `problem` word, a `message`, and more",
            "required": ["problem", "message"],
            "properties": {
                "param": {"type": "string", "description": "The param of `main` concerned"},
                "field": {"type": "string", "description": "The part of the request concerned"},
                "problem": {"type": "string", "examples": ["missing", "unexpected", "type", "invalid_json"]},
                "message": {"type": "string"},
                "expected": {"type": "string", "description": "The JSON type the param's hint asks for"},
            },
        },
    }


def _bounded(schema: dict) -> dict:
    """``schema`` declaring what the server checks beyond it: numbers within 64 bits, at any depth.

    So a request the document allows is never refused for its numbers.
    """
    if not set(schema) - {"default", "description"}:  # any JSON value
        return {**schema, "$ref": _REF + "JsonValue"}
    bounded = dict(schema)
    if bounded.get("type") in ("integer", "number"):
        bounded.update(_INTEGER_RANGE)
    if "anyOf" in bounded:
        bounded["anyOf"] = [_bounded(option) for option in bounded["anyOf"]]
    if "properties" in bounded:
        bounded["properties"] = {name: _bounded(inner) for name, inner in bounded["properties"].items()}
    for key, kind in (("items", "array"), ("additionalProperties", "object")):
        if isinstance(bounded.get(key), dict):
            bounded[key] = _bounded(bounded[key])
        elif key not in bounded and bounded.get("type") == kind:
            bounded[key] = {"$ref": _REF + "JsonValue"}
    return bounded


def _task_detail_schema() -> dict:
    return {
        "type": "object",
        "required": ["task_id", "status"],
        "properties": {
            "task_id": {"type": "string"},
            "status": {"enum": ["running", "success", "failed"]},
            "result": {"description": "What main returned (null until it succeeds)"},
            "error": {"type": ["string", "null"], "description": "The traceback text of a failed task"},
            "create_time": _TIME,
            "update_time": _TIME,
            "start_time": {**_TIME, "description": "ISO 8601, UTC; null while queued"},
            "end_time": _TIME,
            "attempt": {"type": "integer", "minimum": 1},
            "params": {"type": "object", "description": "What main was called with"},
            "version": {"type": "integer", "minimum": 0, "description": "Grows with every write"},
        },
    }


def _envelope(data: dict, status: str, error_data: dict) -> dict:
    return {
        "type": "object",
        "required": ["status", "data", "error_data", "error_msg"],
        "properties": {
            "status": {"const": status},
            "data": data,
            "error_data": {"type": "array", **error_data},
            "error_msg": {"type": "string"},
        },
    }


def _task_id(description: str) -> dict:
    return {"type": "string", "minLength": 1, "description": description}


def _task_answer(description: str) -> dict:
    return _answer(description, "Envelope")


def _answer(description: str, schema: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF + schema}}},
    }


def _error_responses() -> dict:
    schema = {"application/json": {"schema": {"$ref": _REF + "ErrorEnvelope"}}}
    responses = {name: {"description": text, "content": schema} for name, text in _ERRORS.values()}
    responses["UriTooLong"].pop("content")  # the server's own page, before any route
    return responses


def _error_refs(*codes: str) -> dict:
    return {code: {"$ref": f"#/components/responses/{_ERRORS[code][0]}"} for code in codes}
