"""The Flask side of AsyncTask: app factory, blueprint, envelope, validation and the OpenAPI document."""

from asynctask.http.app import create_app
from asynctask.http.envelope import ApiError
from asynctask.http.metrics import metrics_blueprint
from asynctask.http.routes import DEFAULT_MAX_CONTENT_LENGTH, register_error_handlers, task_blueprint

__all__ = [
    "DEFAULT_MAX_CONTENT_LENGTH",
    "ApiError",
    "create_app",
    "metrics_blueprint",
    "register_error_handlers",
    "task_blueprint",
]
