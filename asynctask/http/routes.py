"""The task routes of one service, as a Blueprint: submit, status and the OpenAPI document."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

from flask import Blueprint, Flask, Response, request, stream_with_context
from werkzeug.exceptions import HTTPException

from asynctask.core import AsyncTaskError, TaskNotFoundError, TaskStatus, defaults
from asynctask.http.auth import resolve_token, token_check
from asynctask.http.body import read_object, task_id_problem
from asynctask.http.encoding import dumps
from asynctask.http.envelope import (
    ApiError,
    api_error_answer,
    detail,
    http_error_answer,
    ok,
    server_error_answer,
    service_error_answer,
)
from asynctask.http.openapi import openapi_document
from asynctask.http.pages import OPEN_VIEWS, add_dashboard
from asynctask.service.listing import DEFAULT_PAGE
from asynctask.service.logs import DEFAULT_LOG_READ
from asynctask.service.params import INT_MAX, MainParams
from asynctask.service.watching import MAX_WAIT

#: The default limit of a request body: 1 MiB.
DEFAULT_MAX_CONTENT_LENGTH = 1024 * 1024
SUBMIT_SHAPE = '{"data": {params}}'
CANCEL_SHAPE = '{"task_id": "..."}'
#: The query arguments of ``GET .../tasks`` and ``GET .../logs``.
LIST_ARGS = ("status", "limit", "cursor", "since", "until")
LOG_ARGS = ("task_id", "offset", "limit")
_INTEGER = re.compile(r"-?[0-9]{1,19}")
_SECONDS = re.compile(r"[0-9]{1,20}(\.[0-9]{0,20})?([eE][-+]?[0-9]{1,3})?")
#: The statuses an event stream ends on.
FINISHED = frozenset(status.value for status in TaskStatus if status.finished)
#: How long an EventSource waits before it reconnects, and the headers that keep a stream unbuffered.
STREAM_RETRY_MS = 1000
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_MISSING = object()
_log = logging.getLogger("asynctask.http")  # the logger of unhandled errors (envelope.py)


def task_blueprint(
    service: Any,
    endpoint: str = defaults.ENDPOINT,
    *,
    max_content_length: int | None = DEFAULT_MAX_CONTENT_LENGTH,
    token: str | None = None,
) -> Blueprint:
    """The routes of ``service`` at ``endpoint``, with envelope errors.

    ``POST endpoint`` submits, ``GET endpoint?task_id=`` answers a task,
    ``GET endpoint/tasks`` lists them, ``GET endpoint/counts`` counts them,
    ``GET endpoint/logs?task_id=`` reads a log, ``GET endpoint/events?task_id=``
    streams a task's changes, ``POST endpoint/cancel`` cancels one, and
    ``GET endpoint/openapi.json`` describes them all; ``GET endpoint/dashboard``
    is a page that shows them to a person. ``token`` (default: ``$ASYNCTASK_TOKEN``):
    every one of them then asks for ``Authorization: Bearer <token>``, except the
    dashboard's page and files, which hold no task data.

    Register it on any Flask app; add ``register_error_handlers(app)`` for
    envelope 404/405 answers on URLs the blueprint does not own. Bodies over
    ``max_content_length`` bytes get a 413 (``None``: the app's ``MAX_CONTENT_LENGTH``).
    """
    path = "/" + endpoint.strip("/")
    token = resolve_token(token)
    views = TaskViews(service, path, secured=token is not None)
    name = re.sub(r"\W", "_", f"asynctask_{type(service).__name__}_{path.strip('/')}")
    blueprint = Blueprint(name, __name__)
    if token is not None:
        blueprint.before_request(token_check(token, {f"{name}.{view}" for view in OPEN_VIEWS}))
    if max_content_length is not None:  # None: the app's MAX_CONTENT_LENGTH, nothing to do per request
        blueprint.before_request(functools.partial(_limit_body, max_content_length))
    blueprint.add_url_rule(path, "submit", views.submit, methods=["POST"])
    blueprint.add_url_rule(path, "status", views.status, methods=["GET"])
    base = path.rstrip("/")
    blueprint.add_url_rule(base + "/tasks", "tasks", views.tasks, methods=["GET"])
    blueprint.add_url_rule(base + "/logs", "logs", views.logs, methods=["GET"])
    blueprint.add_url_rule(base + "/cancel", "cancel", views.cancel, methods=["POST"])
    blueprint.add_url_rule(base + "/counts", "counts", views.counts, methods=["GET"])
    blueprint.add_url_rule(base + "/events", "events", views.events, methods=["GET"])
    blueprint.add_url_rule(base + "/openapi.json", "openapi", views.openapi, methods=["GET"])
    add_dashboard(blueprint, path, type(service).__name__)
    register_error_handlers(blueprint)
    return blueprint


def register_error_handlers(target: Flask | Blueprint) -> None:
    """Answer every error raised in ``target`` (an app or a blueprint) with an envelope."""
    target.register_error_handler(ApiError, api_error_answer)
    target.register_error_handler(AsyncTaskError, service_error_answer)
    target.register_error_handler(HTTPException, http_error_answer)
    target.register_error_handler(Exception, server_error_answer)


class TaskViews:
    """The views of one service at one path."""

    def __init__(self, service: Any, path: str, secured: bool = False) -> None:
        self.service = service
        self.path = path
        self.secured = secured
        self.params = MainParams(service.main)

    def submit(self) -> Response:
        """``POST``: validate ``{"data": {params}}``, submit, answer the task detail."""
        data = _submit_data(read_object(SUBMIT_SHAPE))
        params = {name: value for name, value in data.items() if name != "task_id"}
        task_id = data.get("task_id", "")
        if "task_id" in data and (problem := task_id_problem(task_id, "data.task_id")):
            raise problem
        task_id, found = self.service.submit(params, task_id)  # the service checks the params
        return ok(_with_id(task_id, {} if found is None else found))

    def status(self) -> Response:
        """``GET``: the detail of the task named by ``?task_id=`` or a ``{"task_id": ...}`` body.

        With ``&wait=SECONDS`` (and ``&version=N``), a long-poll: the answer
        waits until the task changes or finishes, or the time is over.
        """
        task_id = self._asked_task_id()
        if problem := task_id_problem(task_id, "task_id"):
            raise problem
        wait = _wait_arg()
        version = _one_arg("version")  # checked even without a wait: a bad one is never taken silently
        version = None if version is None else _version_arg(version)
        if wait is not None:
            found = self.service.wait_for(task_id, version=version, timeout=wait)
        else:
            found = self.service.retrieve(task_id)
        if found is None:
            raise TaskNotFoundError(task_id)
        return ok(_with_id(task_id, found))

    def counts(self) -> Response:
        """``GET .../counts``: how many tasks are in each status."""
        _query_args(())
        return ok(self.service.counts())

    def events(self) -> Response:
        """``GET .../events?task_id=``: a Server-Sent Events stream of the task's detail at each change.

        Each event's ``id`` is the task's version; a client reconnecting with
        ``Last-Event-ID`` gets only what it has not seen. The stream ends after
        the finished detail; a reconnect then gets 204, which stops an ``EventSource``.
        """
        task_id = self._required_task_id(_query_args(("task_id",)), "events")
        last = request.headers.get("Last-Event-ID")
        if last is not None:
            if not _INTEGER.fullmatch(last.strip()):
                message = f"Last-Event-ID must be an event id this stream sent (a version), got {last[:30]!r}"
                raise ApiError(400, message, [detail("Last-Event-ID", "type", message)])
            last = int(last.strip())
        # As retrieve answers it now (a user's may hide it: 404, or fail: 500), before any event is sent;
        # its status and version are the stored ones where a user's retrieve has none.
        found = self.service.wait_for(task_id, timeout=0)
        if found is None:
            raise TaskNotFoundError(task_id)
        if last is not None and found.get("status") in FINISHED and found.get("version") == last:
            return Response(status=204)  # seen to the end: nothing more will come
        details = self.service.watch(task_id, last)
        stream = stream_with_context(_event_stream(details))  # a user's retrieve may read the request
        return Response(stream, mimetype="text/event-stream", headers=STREAM_HEADERS)

    def tasks(self) -> Response:
        """``GET .../tasks``: one page of tasks, newest first, and the cursor of the next."""
        args = _query_args(LIST_ARGS)
        page = self.service.list_tasks(
            args.get("status"),
            limit=_int_arg(args, "limit", DEFAULT_PAGE),
            cursor=args.get("cursor"),
            since=args.get("since"),
            until=args.get("until"),
        )
        return ok(page)

    def logs(self) -> Response:
        """``GET .../logs?task_id=``: a piece of the task's log from byte ``offset``."""
        args = _query_args(LOG_ARGS)
        task_id = self._required_task_id(args, "logs")
        piece = self.service.read_log(
            task_id, offset=_int_arg(args, "offset", 0), limit=_int_arg(args, "limit", DEFAULT_LOG_READ)
        )
        return ok(piece)

    def cancel(self) -> Response:
        """``POST .../cancel`` with ``{"task_id": ID}``: cancel the running task, answer its detail."""
        body = read_object(CANCEL_SHAPE)
        task_id = _MISSING if body is None else body.get("task_id", _MISSING)
        if task_id is _MISSING:
            message = f"the body must be {CANCEL_SHAPE}"
            raise ApiError(400, message, [detail("task_id", "missing", message)])
        if problem := task_id_problem(task_id, "task_id"):
            raise problem
        return ok(_with_id(task_id, self.service.cancel(task_id)))

    def openapi(self) -> Response:
        """``GET .../openapi.json``: the OpenAPI 3.1 document (plain, not in an envelope)."""
        return Response(self._openapi_text, mimetype="application/json")

    @functools.cached_property
    def _openapi_text(self) -> str:
        return dumps(openapi_document(self.service, self.path, self.params, secured=self.secured))

    def _required_task_id(self, args: dict[str, str], route: str) -> str:
        task_id = args.get("task_id", _MISSING)
        if task_id is _MISSING:
            message = f"task_id is required: GET {self.path.rstrip('/')}/{route}?task_id=..."
            raise ApiError(400, message, [detail("task_id", "missing", message)])
        if problem := task_id_problem(task_id, "task_id"):
            raise problem
        return task_id

    def _asked_task_id(self) -> Any:
        asked = request.args.getlist("task_id")
        if len(asked) > 1:
            message = "give one task_id, not several"
            raise ApiError(400, message, [detail("task_id", "repeated", message)])
        if asked:
            return asked[0]
        body = read_object('{"task_id": "..."}')
        task_id = _MISSING if body is None else body.get("task_id", _MISSING)
        if task_id is _MISSING:
            message = f"task_id is required: GET {self.path}?task_id=..."
            raise ApiError(400, message, [detail("task_id", "missing", message)])
        return task_id


def _query_args(known: tuple[str, ...]) -> dict[str, str]:
    """The query's arguments, each given once and each one of ``known``; else a 400 naming it."""
    args: dict[str, str] = {}
    for name, values in request.args.lists():
        if name not in known:
            message = f"unknown query parameter {name!r}; this route takes {', '.join(known)}"
            raise ApiError(400, message, [detail(name, "unexpected", message)])
        if len(values) > 1:
            message = f"give {name} once, not {len(values)} times"
            raise ApiError(400, message, [detail(name, "repeated", message)])
        args[name] = values[0]
    return args


def _one_arg(name: str) -> str | None:
    """A query argument given at most once (``None``: not given); a 400 if repeated."""
    values = request.args.getlist(name)
    if len(values) > 1:
        message = f"give {name} once, not {len(values)} times"
        raise ApiError(400, message, [detail(name, "repeated", message)])
    return values[0] if values else None


def _wait_arg() -> float | None:
    """``wait`` as a number (``None`` when not given); its range is the service's to check."""
    text = _one_arg("wait")
    if text is None:
        return None
    if not _SECONDS.fullmatch(text):
        message = f"wait must be a number of seconds from 0 to {MAX_WAIT}, got {text[:30]!r}"
        raise ApiError(400, message, [detail("wait", "type", message)])
    return float(text)


def _version_arg(text: str) -> int:
    version = _int_arg({"version": text}, "version", 0)
    if not 0 <= version <= INT_MAX:
        message = f"version must be an integer from 0 to {INT_MAX}, got {text[:30]!r}"
        raise ApiError(400, message, [detail("version", "range", message)])
    return version


def _event_stream(details: Iterator[dict | None]) -> Iterator[str]:
    """Server-Sent Events: each detail as one event with its version as id; a comment to keep alive.

    A fault once the stream has begun (a user's ``retrieve`` raising) cannot be
    a 500 any more: it is logged as one would be, and the stream ends.
    """
    yield f"retry: {STREAM_RETRY_MS}\n\n"
    try:
        for found in details:
            if found is None:
                yield ": keep-alive\n\n"
                continue
            version = found.get("version")
            head = "" if version is None else f"id: {version}\n"
            yield f"{head}data: {dumps(found)}\n\n"
    except Exception:
        _log.exception("unhandled error serving %s %s (an event stream, ended)", request.method, request.path)


def _int_arg(args: dict[str, str], name: str, default: int) -> int:
    """A whole-number query argument; its range is the service's to check."""
    text = args.get(name)
    if text is None:
        return default
    if not _INTEGER.fullmatch(text):
        message = f"{name} must be an integer, got {text[:30]!r}"
        raise ApiError(400, message, [detail(name, "type", message)])
    return int(text)


def _submit_data(body: dict | None) -> dict:
    data = _MISSING if body is None else body.get("data", _MISSING)
    if isinstance(data, dict):
        return data
    problem = "missing" if data is _MISSING else "not_an_object"
    message = f"the body must be {SUBMIT_SHAPE}: " + (
        "no data" if data is _MISSING else "data is not an object"
    )
    raise ApiError(400, message, [detail("data", problem, message)])


def _with_id(task_id: str, found: Any) -> Mapping:
    if not isinstance(found, Mapping):
        raise TypeError(f"retrieve() must return a dict or None, got {type(found).__name__}")
    return found if "task_id" in found else {"task_id": task_id, **found}  # found's own id wins, as ever


def _limit_body(limit: int | None) -> None:
    request.max_content_length = limit
