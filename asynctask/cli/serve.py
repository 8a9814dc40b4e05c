"""Serving an AsyncTask class through gunicorn: a bounded pool of request threads in every mode."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable

from asynctask.cli.gunicorn_app import run_gunicorn
from asynctask.cli.multiproc import metrics_dir
from asynctask.cli.options import ServeOptions, check_builds, check_port_free
from asynctask.http.auth import TOKEN_ENV, resolve_token


def serve(options: ServeOptions, announce: Callable[[str], None] = print) -> None:
    """Serve until Ctrl-C or SIGTERM: gunicorn, ``workers`` processes of ``threads`` request threads each."""
    check_port_free(options.host, options.port)
    # Several workers: their metrics are summed through files (set before anything imports
    # prometheus_client; removed when the master stops). One worker counts in its own memory.
    with metrics_dir(several=options.workers > 1):
        _serve(options, announce)


def _serve(options: ServeOptions, announce: Callable[[str], None]) -> None:
    check_builds(options)
    if resolve_token(options.token) is None and not _loopback(options.host):
        print(
            f"asynctask: warning: no token, and --host {options.host} is not loopback: anyone who can reach "
            f"port {options.port} can submit and cancel tasks and read their logs; pass --token-file PATH "
            f"or set {TOKEN_ENV}",
            file=sys.stderr,
            flush=True,
        )
    processes = "1 gunicorn worker" if options.workers == 1 else f"{options.workers} gunicorn workers"
    announce(
        f"Serving {options.target.__name__} on {_url(options)} with {processes} of {options.threads} "
        f"threads (store {options.store}); Ctrl-C to stop"
    )
    run_gunicorn(options)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def _url(options: ServeOptions) -> str:
    host = f"[{options.host}]" if ":" in options.host else options.host
    return f"http://{host}:{options.port}/{options.endpoint.strip('/')}"
