"""gunicorn workers serving one AsyncTask class (needs ``asynctask[server]``)."""

from __future__ import annotations

import math
import os
import signal

from gunicorn.app.base import BaseApplication

from asynctask.cli.multiproc import child_exit
from asynctask.cli.options import ServeOptions, build, stop
from asynctask.service.runtime import runtime_of

_services: list = []
#: The stop signals a worker got before it had its own handlers (delivered again once it has them).
_early_stops: list[int] = []


class AsyncTaskApplication(BaseApplication):
    """Each worker process builds its own service and app after the fork."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        settings = {
            "bind": f"{self.options.host}:{self.options.port}",
            "workers": self.options.workers,
            "threads": self.options.threads,
            "worker_class": "gthread",
            "worker_exit": _worker_exit,
            "child_exit": child_exit,  # its live gauges stop counting
            "post_fork": _post_fork,
            "post_worker_init": _post_worker_init,
            # On stop, running tasks may finish (up to their timeout) and be recorded.
            "graceful_timeout": math.ceil(self.options.task_timeout),  # gunicorn takes whole seconds
        }
        if "control_socket_disable" in self.cfg.settings:  # gunicorn 24+: one shared path in $HOME otherwise
            settings["control_socket_disable"] = True
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self):
        service = build(self.options)
        _services.append(service)
        return service.app(self.options.endpoint, token=self.options.token)


def _post_fork(server, worker) -> None:
    """Keep a SIGTERM that reaches a new worker before its own handlers are set.

    Until then the worker has the arbiter's handler, which only queues the
    signal for the arbiter's loop, one the worker never runs: the worker
    would never stop, and the arbiter would wait for it for the whole
    ``graceful_timeout`` (the task timeout).
    """
    signal.signal(signal.SIGTERM, lambda signum, frame: _early_stops.append(signum))


def _post_worker_init(worker) -> None:
    """On SIGTERM, long-polls and event streams answer at once, so they never hold up the stop.

    gunicorn waits for the requests under way before a worker exits; a waiting
    request would hold it up to its wait, and an event stream for as long as
    its task runs. The worker's own handler still runs first. A SIGTERM that
    came before the handlers is delivered again now.
    """
    stop_requests = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame) -> None:
        if callable(stop_requests):
            stop_requests(signum, frame)
        for service in _services:
            runtime_of(service).changes.stop()

    signal.signal(signal.SIGTERM, on_term)
    if _early_stops:
        os.kill(os.getpid(), signal.SIGTERM)


def _worker_exit(server, worker) -> None:
    while _services:
        stop(_services.pop())


def run_gunicorn(options: ServeOptions) -> None:
    """Run the gunicorn arbiter until it is stopped."""
    AsyncTaskApplication(options).run()
