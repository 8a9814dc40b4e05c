"""What ``serve`` needs: the options, the target class, building, checking and stopping a service."""

from __future__ import annotations

import errno
import importlib
import logging
import os
import socket
import sys

import attrs
from attrs import frozen

from asynctask.adapters.process_pool import ProcessPool
from asynctask.adapters.urls import open_repository
from asynctask.core import defaults
from asynctask.core.errors import ServeError
from asynctask.service.base import AsyncTask
from asynctask.service.runtime import runtime_of

_log = logging.getLogger("asynctask.serve")
#: Where ``serve`` listens, and with how many gunicorn worker processes and request threads each.
HOST, PORT, WORKERS, THREADS = "127.0.0.1", 8000, 1, 8


@frozen
class ServeOptions:
    """Everything ``serve`` needs to build and serve one task class."""

    target: type[AsyncTask]
    store: str
    endpoint: str = defaults.ENDPOINT
    host: str = HOST
    port: int = PORT
    workers: int = WORKERS
    threads: int = THREADS
    log_dir: str = defaults.LOGGER_DIR
    max_worker: int | None = None
    task_timeout: float = defaults.TASK_TIMEOUT.total_seconds()
    lease: float | None = defaults.LEASE.total_seconds()
    resume: bool = False
    keep_finished: float | None = None
    #: ``threads`` (a ``ThreadPoolExecutor``) or ``processes`` (a ``ProcessPool``: timeouts end the work).
    executor: str = "threads"
    retries: int = 0
    retry_backoff: float = 1.0
    #: The bearer token every route but ``/ping`` asks for (``None``: ``$ASYNCTASK_TOKEN``, if set).
    token: str | None = attrs.field(default=None, repr=False)


def read_token_file(path: str) -> str:
    """The token in the file at ``path`` (one line; surrounding whitespace is dropped)."""
    try:
        with open(path, encoding="utf-8") as file:
            token = file.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ServeError(f"cannot read --token-file {path}: {exc}") from exc
    if not token:
        raise ServeError(f"--token-file {path} is empty")
    return token


def load_target(spec: str) -> type[AsyncTask]:
    """The class named by ``package.module:ClassName``, checked to be an AsyncTask subclass."""
    module_name, sep, name = spec.partition(":")
    if not sep or not module_name or not name:
        raise ServeError(f"expected package.module:ClassName, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like gunicorn: modules next to you import
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ServeError(f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}") from exc
    target = getattr(module, name, None)
    if target is None:
        raise ServeError(f"module {module_name!r} has no {name!r}")
    if not (isinstance(target, type) and issubclass(target, AsyncTask)) or target is AsyncTask:
        raise ServeError(f"{spec} is not a subclass of asynctask.AsyncTask (got {target!r})")
    return target


#: What ``--executor`` may name.
EXECUTORS = ("threads", "processes")


def build(options: ServeOptions) -> AsyncTask:
    """An instance of the target class on its store, with its executor."""
    if options.executor not in EXECUTORS:
        raise ServeError(f"--executor must be one of {', '.join(EXECUTORS)}, got {options.executor!r}")
    pool = ProcessPool(options.max_worker) if options.executor == "processes" else None
    return options.target(
        logger_dir=options.log_dir,
        max_worker=None if pool is not None else options.max_worker,
        executor=pool,
        repository=open_repository(options.store),
        task_timeout=options.task_timeout,
        lease=options.lease,
        resume=options.resume,
        keep_finished=options.keep_finished,
        retries=options.retries,
        retry_backoff=options.retry_backoff,
    )


def check_port_free(host: str, port: int) -> None:
    """Raise ``ServeError`` when ``host:port`` cannot be bound (in use, or not ours)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = (
                "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound: {exc.strerror}"
            )
            raise ServeError(f"port {port} on {host} {reason}; choose another with --port") from exc


def check_builds(options: ServeOptions) -> None:
    """Build the service once and stop it: a bad option, class or store fails here, in one clear line.

    Workers build their own after the fork; this one never runs a task (it does not resume either).
    """
    service = build(attrs.evolve(options, resume=False))
    _process_pool(service, wait=False)
    service.shutdown(wait=False)
    service.repository.close()


def stop(service: AsyncTask) -> None:
    """Stop a service: report what still runs, fail what never started, let the rest finish."""
    running = [(task_id, attempt) for task_id, attempt, started in service.in_flight() if started]
    waiting = [task_id for task_id, _, started in service.in_flight() if not started]
    if running:
        _log.warning("stopping: waiting for %d running task(s): %s", len(running), running)
    if waiting:
        _log.warning("stopping: %d task(s) not started are recorded as failed: %s", len(waiting), waiting)
    _process_pool(service, wait=True)  # its queued tasks are cancelled, and recorded as failed
    service.shutdown(wait=True, cancel_pending=True)
    service.repository.close()


def _process_pool(service: AsyncTask, wait: bool) -> None:
    """Shut down the ``ProcessPool`` ``build`` gave the service, if it did: the service does not own it."""
    executor = runtime_of(service).attempts.executor
    if isinstance(executor, ProcessPool):
        executor.shutdown(wait=wait, cancel_futures=True)
