"""The JSON envelope every answer is wrapped in, and the one place errors become status codes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from flask import Response, request
from werkzeug.exceptions import HTTPException

from asynctask.core import (
    AsyncTaskError,
    InvalidArgumentError,
    InvalidParamsError,
    StoreUnavailableError,
    SubmissionConflictError,
    TaskFinishedError,
    TaskNotFoundError,
    UnencodableValueError,
)
from asynctask.http.encoding import dumps

_log = logging.getLogger("asynctask.http")

#: The service errors a client can cause or should retry: status code, ``problem`` word,
#: and the message answered (``None``: the error's own words; else they go to the log only).
SERVICE_ERRORS: dict[type[AsyncTaskError], tuple[int, str, str | None]] = {
    InvalidParamsError: (400, "invalid_params", None),
    InvalidArgumentError: (400, "invalid", None),
    UnencodableValueError: (400, "unencodable", None),
    TaskNotFoundError: (404, "not_found", None),
    TaskFinishedError: (409, "finished", None),
    SubmissionConflictError: (503, "busy", "the task store is busy; retry shortly"),
    StoreUnavailableError: (503, "store_unavailable", "the task store is unavailable; retry shortly"),
}
#: Plain words for the HTTP errors werkzeug raises itself (routing, body size).
HTTP_MESSAGES = {404: "no such route", 405: "this method is not allowed here"}
SERVER_FAULT = "internal server error"


class ApiError(Exception):
    """An error answered as an envelope with ``status_code``; ``details`` go to ``error_data``."""

    def __init__(
        self, status_code: int, message: str, details: Iterable[dict] = (), headers: dict | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})


def detail(field: str, problem: str, message: str, **more: Any) -> dict:
    """One ``error_data`` item about a part of the request."""
    return {"field": field, "problem": problem, "message": message, **more}


def ok(data: Any, status_code: int = 200) -> Response:
    """A success envelope."""
    return _answer({"status": "ok", "data": data, "error_data": [], "error_msg": ""}, status_code)


def error(status_code: int, message: str, details: Iterable[dict] = ()) -> Response:
    """An error envelope."""
    body = {"status": "error", "data": None, "error_data": list(details), "error_msg": message}
    return _answer(body, status_code)


def api_error_answer(exc: ApiError) -> Response:
    """The envelope of an ``ApiError``, with its headers."""
    answer = error(exc.status_code, exc.message, exc.details)
    answer.headers.update(exc.headers)
    return answer


def service_error_answer(exc: AsyncTaskError) -> Response:
    """The envelope of an error the service raised: a 4xx/503 if a client can act on it, else a 500."""
    kind = next((kind for kind in type(exc).__mro__ if kind in SERVICE_ERRORS), None)
    if kind is None:
        return server_error_answer(exc)
    code, problem, public = SERVICE_ERRORS[kind]
    if public is not None:
        _log.warning("answered %d to %s %s: %r", code, request.method, request.path, exc)
    answer = error(code, public or str(exc), _service_details(exc, problem, public or str(exc)))
    if code == 503:
        answer.headers["Retry-After"] = "1"
    return answer


def http_error_answer(exc: HTTPException) -> Response | HTTPException:
    """The envelope of a werkzeug error (404, 405, 413 ...); redirects pass through untouched."""
    code = exc.code or 500
    if code < 400:
        return exc
    if code >= 500:
        return server_error_answer(exc)
    message = HTTP_MESSAGES.get(code, exc.description or exc.name)
    details = [detail("request", exc.name.lower().replace(" ", "_"), message)]
    if code == 405 and getattr(exc, "valid_methods", None):
        usable = sorted(set(exc.valid_methods) - {"HEAD", "OPTIONS"})
        message = f"{request.method} is not allowed here; use {' or '.join(usable)}"
        details[0].update(message=message, allowed=sorted(exc.valid_methods))
    if code == 413:
        message = f"the body is larger than the limit of {request.max_content_length} bytes"
        details[0].update(
            field="body", problem="too_large", message=message, limit=request.max_content_length
        )
    answer = error(code, message, details)
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            answer.headers[name] = value
    return answer


def server_error_answer(exc: BaseException) -> Response:
    """A short 500 envelope; the traceback goes to the ``asynctask.http`` log only."""
    _log.error("unhandled error serving %s %s", request.method, request.path, exc_info=exc)
    return error(500, SERVER_FAULT)


def _service_details(exc: AsyncTaskError, problem: str, message: str) -> list[dict]:
    if isinstance(exc, InvalidParamsError):
        return exc.details
    if isinstance(exc, InvalidArgumentError):
        return [detail(exc.argument, problem, message)]
    if isinstance(exc, TaskFinishedError):
        return [detail("task_id", problem, message, task_id=exc.task_id, status=exc.status)]
    if isinstance(exc, TaskNotFoundError):
        return [detail("task_id", problem, message, task_id=exc.task_id)]
    return [detail("request", problem, message)]


def _answer(body: dict, status_code: int) -> Response:
    return Response(dumps(body), status=status_code, mimetype="application/json")
