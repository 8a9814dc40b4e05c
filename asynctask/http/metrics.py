"""``GET /metrics``: the service's Prometheus metrics, in the text format a scrape reads.

``create_app`` registers it; on an app of one's own,
``app.register_blueprint(metrics_blueprint(service))`` does (once per app:
the metrics of every service in the process are in one answer). The answer
is Prometheus's text, not an envelope; only errors are envelopes: a 404
saying what to install when ``prometheus_client`` is missing (or that the
service was built with ``metrics=False``), a 401 without the token.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from asynctask.http.auth import resolve_token, token_check
from asynctask.http.envelope import ApiError, detail
from asynctask.http.routes import register_error_handlers

#: Where Prometheus looks by default.
METRICS_PATH = "/metrics"


def metrics_blueprint(service: Any, path: str = METRICS_PATH, *, token: str | None = None) -> Blueprint:
    """``GET path``: the metrics ``service`` counts into, with those of every service sharing its registry.

    ``token`` (default: ``$ASYNCTASK_TOKEN``): the scrape must send ``Authorization: Bearer <token>``.
    """
    # What runtime_of(service) answers, read here: importing service.runtime would bring the adapters in.
    metrics = service._asynctask.metrics
    blueprint = Blueprint("asynctask_metrics", __name__)
    token = resolve_token(token)
    if token is not None:
        blueprint.before_request(token_check(token))

    def scrape() -> Response:
        if metrics.unavailable is not None:
            raise ApiError(404, metrics.unavailable, [detail("metrics", "unavailable", metrics.unavailable)])
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)

    blueprint.add_url_rule(path, "metrics", scrape, methods=["GET"])
    register_error_handlers(blueprint)
    return blueprint
