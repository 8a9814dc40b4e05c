"""The dashboard: one HTML page, its stylesheet and its script, served from the package.

The page and its two files carry no task data (the script fetches every
value through the JSON routes), so they are served without the token: a
browser must be able to load the page before it can ask a person for the
token. Every JSON route still asks for it. The answers forbid inline
scripts and styles (Content-Security-Policy), a second line of defence
behind the script's rule of inserting every value as text.
"""

from __future__ import annotations

import functools
import html
from importlib import resources
from string import Template

from flask import Blueprint, Response, abort, request

#: The files the page loads, and their types; nothing else is ever read from the package.
ASSETS = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}
#: The views of the blueprint that need no token.
OPEN_VIEWS = ("dashboard", "dashboard_asset")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def add_dashboard(blueprint: Blueprint, path: str, title: str) -> None:
    """Serve the page at ``{path}/dashboard`` and its files at ``{path}/dashboard/<name>``."""
    base = path.rstrip("/")
    blueprint.add_url_rule(
        base + "/dashboard", OPEN_VIEWS[0], functools.partial(page, path, title), methods=["GET"]
    )
    blueprint.add_url_rule(base + "/dashboard/<name>", OPEN_VIEWS[1], asset, methods=["GET"])


def page(path: str, title: str) -> Response:
    """``GET {endpoint}/dashboard``: the HTML shell, told where the JSON routes are."""
    endpoint = request.script_root + path  # an app mounted under a prefix still finds its routes
    text = _template().substitute(
        endpoint=html.escape(endpoint), base=html.escape(endpoint.rstrip("/")), title=html.escape(title)
    )
    answer = Response(text, mimetype="text/html")
    answer.headers.update(HEADERS)
    answer.headers["Cache-Control"] = "no-store"
    return answer


def asset(name: str) -> Response:
    """``GET {endpoint}/dashboard/<name>``: the stylesheet or the script; any other name is a 404."""
    if name not in ASSETS:
        abort(404)
    answer = Response(_read(name), mimetype=ASSETS[name])
    answer.headers.update(HEADERS)
    answer.headers["Cache-Control"] = "no-cache"  # revalidated by ETag, so an upgrade shows at once
    answer.add_etag()
    return answer.make_conditional(request)


def asset_names() -> tuple[str, ...]:
    """Every file of the dashboard, the page's template included (for packaging checks)."""
    return ("dashboard.html", *ASSETS)


@functools.cache
def _read(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


@functools.cache
def _template() -> Template:
    return Template(_read("dashboard.html").decode("utf-8"))
