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
import fcntl
import importlib.util
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator

from asynctask.adapters.prometheus import MULTIPROC_ENV

_log = logging.getLogger("asynctask.serve")
#: The name of a serve's directory begins with this and the master's pid: ``asynctask-metrics-<pid>-``.
PREFIX = "asynctask-metrics-"
#: The file a running serve keeps locked in its directory.
LOCK_FILE = ".serve.lock"
_NAME = re.compile(re.escape(PREFIX) + r"[0-9]+-[A-Za-z0-9_]{8}")


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
    held = _hold(path)
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        if os.getpid() == owner:  # a forked worker leaves through here too: only the master cleans up
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(path, ignore_errors=True)
            os.close(held)


def _hold(path: str) -> int:
    """Lock the directory for as long as this serve runs (its workers inherit the lock, and keep it).

    The lock file is locked before it gets its name, so a sweep never sees it unlocked.
    An ``flock`` lock goes with the process that holds it, even in another PID namespace
    (a container sharing /tmp), where a pid would mean nothing.
    """
    making = os.path.join(path, LOCK_FILE + ".new")
    held = os.open(making, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    fcntl.flock(held, fcntl.LOCK_EX)
    os.rename(making, os.path.join(path, LOCK_FILE))
    return held


def _remove_orphans(folder: str) -> None:
    """Remove the directories of serves that did not stop (killed): nobody holds their lock any more."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        if not _NAME.fullmatch(name) or not _abandoned(path):
            continue
        shutil.rmtree(path, ignore_errors=True)


def _abandoned(path: str) -> bool:
    """``path`` is a directory of ours whose lock nobody holds (another sweep may remove it meanwhile)."""
    try:
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            return False
        lock = os.open(os.path.join(path, LOCK_FILE), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:  # gone, not ours, or no lock file (yet): leave it
        return False
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held: its serve runs
        return False
    finally:
        os.close(lock)
    return True


def child_exit(server, worker) -> None:
    """gunicorn's ``child_exit`` hook, in the master: the ended worker's live gauges no longer count."""
    if os.environ.get(MULTIPROC_ENV) and importlib.util.find_spec("prometheus_client") is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
