"""gunicorn workers serving one AsyncTask class (needs ``asynctask[server]``)."""

from __future__ import annotations

import math

from gunicorn.app.base import BaseApplication

from asynctask.cli.multiproc import child_exit
from asynctask.cli.options import ServeOptions, build, stop

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
            "child_exit": child_exit,  # its live gauges stop counting
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


def _worker_exit(server, worker) -> None:
    while _services:
        stop(_services.pop())


def run_gunicorn(options: ServeOptions) -> None:
    """Run the gunicorn arbiter until it is stopped."""
    AsyncTaskApplication(options).run()
