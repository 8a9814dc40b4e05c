"""Prometheus's multiprocess mode under ``serve``: every gunicorn worker counts, any one answers a scrape.

``metrics_dir(several=True)`` gives the workers a fresh private directory
in ``PROMETHEUS_MULTIPROC_DIR`` before the master builds anything or forks
(prometheus_client picks its mode when it is first imported), and removes it
when the master stops. With one worker there is nothing to sum, and its
metrics stay in its memory: the file writes of multiprocess mode would cost
about 2% of a no-op job for nothing. A directory the user set is used as it
is; they empty it between runs. ``child_exit`` drops the live gauges of a worker that
ended, so ``asynctask_tasks_in_flight`` sums live workers only. Without
prometheus_client there is nothing to set up.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator

from asynctask.adapters.prometheus import MULTIPROC_ENV

_log = logging.getLogger("asynctask.serve")
#: The name of a serve's directory begins with this and the master's pid: ``asynctask-metrics-<pid>-``.
PREFIX = "asynctask-metrics-"


@contextlib.contextmanager
def metrics_dir(several: bool = True) -> Iterator[str | None]:
    """Set ``PROMETHEUS_MULTIPROC_DIR`` for a serve of ``several`` workers; the directory used, or None."""
    if not several or os.environ.get(MULTIPROC_ENV) or importlib.util.find_spec("prometheus_client") is None:
        yield os.environ.get(MULTIPROC_ENV)
        return
    if "prometheus_client" in sys.modules:
        _log.warning(
            "prometheus_client was imported before serve could set %s: each worker's metrics only "
            "count its own work; set %s before starting to sum them",
            MULTIPROC_ENV,
            MULTIPROC_ENV,
        )
    owner = os.getpid()
    _remove_orphans(tempfile.gettempdir())
    path = tempfile.mkdtemp(prefix=f"{PREFIX}{owner}-")
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        if os.getpid() == owner:  # a forked worker leaves through here too: only the master cleans up
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(path, ignore_errors=True)


def _remove_orphans(folder: str) -> None:
    """Remove the directories of serves that did not stop (killed): their master's pid is gone."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        pid = name[len(PREFIX) :].partition("-")[0]
        if not name.startswith(PREFIX) or not pid.isdigit() or _alive(int(pid)):
            continue
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path) and os.stat(path).st_uid == os.getuid():
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def child_exit(server, worker) -> None:
    """gunicorn's ``child_exit`` hook, in the master: the ended worker's live gauges no longer count."""
    if os.environ.get(MULTIPROC_ENV) and importlib.util.find_spec("prometheus_client") is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
