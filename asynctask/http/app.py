"""The app factory: ``create_app(service, endpoint)`` returns a ``flask.Flask``."""

from __future__ import annotations

import base64
import json
import logging
from datetime import date, datetime
from typing import Any

from flask import Blueprint, Flask, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from asynctask.core import InvalidParamsError, TaskNotFoundError
from asynctask.http.envelope import ApiError, error, ok

_log = logging.getLogger("asynctask.http")


class EnvelopeJSONProvider(DefaultJSONProvider):
    """JSON that carries datetimes as ISO 8601, bytes as base64, anything else as text."""

    @staticmethod
    def default(value: Any) -> Any:
        if isinstance(value, (datetime, date)):
            return value.isoformat()
        if isinstance(value, (bytes, bytearray)):
            return base64.b64encode(value).decode("ascii")
        if isinstance(value, (set, frozenset, tuple)):
            return list(value)
        return str(value)


def create_app(service: Any, endpoint: str = "/api") -> Flask:
    """A Flask app serving ``service`` at ``endpoint`` plus ``GET /ping``."""
    app = Flask(type(service).__name__)
    app.json = EnvelopeJSONProvider(app)
    app.register_blueprint(task_blueprint(service, endpoint))
    app.add_url_rule("/ping", "ping", lambda: {"status": "ok"})
    app.register_error_handler(ApiError, lambda exc: error(exc.status_code, exc.message, exc.details))
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _server_error)
    return app


def task_blueprint(service: Any, endpoint: str = "/api") -> Blueprint:
    """The submit and status routes of ``service`` at ``endpoint``, as a Blueprint."""
    endpoint = "/" + endpoint.strip("/")
    bp = Blueprint(f"asynctask_{type(service).__name__}_{endpoint.strip('/')}", __name__)

    @bp.post(endpoint)
    def submit():
        params = _json_body().get("data")
        if not isinstance(params, dict):
            raise ApiError(
                400,
                'the body must be {"data": {params}}',
                [{"field": "data", "problem": "missing or not an object"}],
            )
        try:
            task_id = service.run(**params)
        except InvalidParamsError as exc:
            raise ApiError(400, str(exc), exc.details) from exc
        except TaskNotFoundError as exc:
            raise ApiError(404, str(exc), [{"task_id": exc.task_id}]) from exc
        return ok(_detail(service, task_id))

    @bp.get(endpoint)
    def status():
        task_id = request.args.get("task_id")
        if task_id is None and request.content_length:
            task_id = _json_body().get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise ApiError(
                400,
                "task_id must be a non-empty string",
                [{"field": "task_id", "problem": "missing or not a string"}],
            )
        return ok(_detail(service, task_id))

    return bp


def _detail(service: Any, task_id: str) -> dict:
    detail = service.retrieve(task_id)
    if detail is None:
        raise ApiError(404, f"no task with task_id {task_id!r}", [{"task_id": task_id}])
    return {"task_id": task_id, **detail}


def _json_body() -> dict:
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except ValueError as exc:
        raise ApiError(400, "the body is not valid JSON", [{"problem": str(exc)}]) from exc
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", [{"problem": f"got {type(body).__name__}"}])
    return body


def _http_error(exc: HTTPException):
    return error(exc.code or 500, exc.description or exc.name)


def _server_error(exc: Exception):
    _log.exception("unhandled error serving %s %s", request.method, request.path)
    return error(500, "internal server error")
