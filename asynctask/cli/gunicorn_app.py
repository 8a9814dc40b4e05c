"""gunicorn workers serving one AsyncTask class (needs ``asynctask[server]``)."""

from __future__ import annotations

import math
import signal

from gunicorn.app.base import BaseApplication

from asynctask.cli.options import ServeOptions, build, stop
from asynctask.service.runtime import runtime_of

_services: list = []


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


def _post_worker_init(worker) -> None:
    """On SIGTERM, long-polls and event streams answer at once, so they never hold up the stop.

    gunicorn waits for the requests under way before a worker exits; a waiting
    request would hold it up to its wait, and an event stream for as long as
    its task runs. The worker's own handler still runs first.
    """
    stop_requests = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame) -> None:
        if callable(stop_requests):
            stop_requests(signum, frame)
        for service in _services:
            runtime_of(service).changes.stop()

    signal.signal(signal.SIGTERM, on_term)


def _worker_exit(server, worker) -> None:
    while _services:
        stop(_services.pop())


def run_gunicorn(options: ServeOptions) -> None:
    """Run the gunicorn arbiter until it is stopped."""
    AsyncTaskApplication(options).run()
