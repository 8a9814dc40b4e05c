"""The app factory: ``create_app(service, endpoint)`` returns a ``flask.Flask`` serving one task."""

from __future__ import annotations

import functools
from typing import Any

from flask import Flask, Response, redirect, request

from asynctask.core import defaults
from asynctask.http.envelope import ok
from asynctask.http.metrics import metrics_blueprint
from asynctask.http.routes import DEFAULT_MAX_CONTENT_LENGTH, register_error_handlers, task_blueprint


def create_app(
    service: Any,
    endpoint: str = defaults.ENDPOINT,
    *,
    max_content_length: int | None = DEFAULT_MAX_CONTENT_LENGTH,
    token: str | None = None,
) -> Flask:
    """A Flask app serving ``service`` at ``endpoint``, ``GET /ping``, ``GET /metrics``, and envelope errors.

    ``GET /dashboard`` redirects to the dashboard at ``{endpoint}/dashboard``.
    ``token`` (default: ``$ASYNCTASK_TOKEN``): every route but ``/ping`` asks
    for ``Authorization: Bearer <token>``. More services join with
    ``app.register_blueprint(task_blueprint(other, "/other"))``.
    """
    # No static folder: Flask's default would serve any static/ folder of the working directory, unguarded.
    app = Flask(type(service).__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = max_content_length
    # The app's config holds the limit, so the blueprint need not set it on every request.
    app.register_blueprint(task_blueprint(service, endpoint, max_content_length=None, token=token))
    app.add_url_rule("/ping", "ping", ping)
    base = "/" + endpoint.strip("/")
    if base != "/":  # at "/" the blueprint's own page is /dashboard already
        app.add_url_rule("/dashboard", "dashboard", functools.partial(to_dashboard, base))
    app.register_blueprint(metrics_blueprint(service, token=token))
    register_error_handlers(app)
    return app


def ping() -> Response:
    """``GET /ping``: a health check that touches nothing."""
    return ok("pong")


def to_dashboard(base: str) -> Response:
    """``GET /dashboard``: a redirect to the service's dashboard, ``{endpoint}/dashboard``."""
    return redirect(request.script_root + base + "/dashboard")
