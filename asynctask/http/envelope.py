"""The JSON envelope every answer is wrapped in, and the errors that map to it."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.wrappers import Response


class ApiError(Exception):
    """An error answered as an envelope with ``status_code``."""

    def __init__(self, status_code: int, message: str, details: list | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.details = list(details or [])


def ok(data: Any, status_code: int = 200) -> tuple[Response, int]:
    """A success envelope."""
    return jsonify(status="ok", data=data, error_data=[], error_msg=""), status_code


def error(status_code: int, message: str, details: list | None = None) -> tuple[Response, int]:
    """An error envelope."""
    return jsonify(status="error", data=None, error_data=list(details or []), error_msg=message), status_code
