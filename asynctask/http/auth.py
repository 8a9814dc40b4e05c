"""Access control: with a token set, every route of the service asks for ``Authorization: Bearer <token>``.

The token comes from ``api.app(endpoint, token=...)``, ``task_blueprint(...,
token=...)``, ``asynctask serve --token-file PATH``, or the environment
variable ``ASYNCTASK_TOKEN``. It is compared in constant time, and it never
appears in an answer or a log line. ``GET /ping`` stays open, for health checks,
and so do the dashboard's page and its static files, which hold no task data
(the page asks a person for the token, then sends it with every JSON request).
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Callable, Collection

from flask import request

from asynctask.http.envelope import ApiError, detail

#: The environment variable a token may come from.
TOKEN_ENV = "ASYNCTASK_TOKEN"
#: What a token may hold: printable ASCII without spaces, so it survives a header intact.
_TOKEN = re.compile(r"[\x21-\x7e]+")
#: The header a 401 carries (RFC 6750).
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="asynctask"'}


def resolve_token(token: str | None) -> str | None:
    """The token to require: ``token``, else ``$ASYNCTASK_TOKEN``, else ``None`` (no access control)."""
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
        where = TOKEN_ENV
    else:
        where = "token"
    if token is not None and (not isinstance(token, str) or not _TOKEN.fullmatch(token)):
        raise ValueError(f"{where} must be a non-empty string of printable ASCII without spaces")
    return token


def token_check(token: str, open_endpoints: Collection[str] = ()) -> Callable[[], None]:
    """A ``before_request`` function that refuses a request without the bearer ``token``.

    Requests routed to one of ``open_endpoints`` (Flask endpoint names) pass without it.
    """
    expected = token.encode("ascii")

    def check() -> None:
        if request.endpoint in open_endpoints:
            return
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if not given and not scheme:
            message = "this service needs a token: send Authorization: Bearer <token>"
            raise ApiError(401, message, [detail("Authorization", "missing", message)], CHALLENGE)
        ok = scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8", "replace"), expected
        )
        if not ok:
            message = "the token is not this service's (send Authorization: Bearer <token>)"
            raise ApiError(401, message, [detail("Authorization", "invalid", message)], CHALLENGE)

    return check
