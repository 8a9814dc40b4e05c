"""``AsyncTask``: subclass it, write ``main``, and serve it."""

from __future__ import annotations

import atexit
import logging
import os
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future
from datetime import datetime, timedelta
from typing import Any

from asynctask.core import Policy, TaskRepository, defaults
from asynctask.service.listing import DEFAULT_PAGE, ListQuery
from asynctask.service.logs import DEFAULT_LOG_READ, task_logger
from asynctask.service.params import main_signature
from asynctask.service.runtime import Runtime, WorkerSide, task_detail, utc_now
from asynctask.service.store_faults import unwatched
from asynctask.service.wiring import choose_executor, choose_metrics, choose_repository


class AsyncTask:
    """Turns ``main`` into an asynchronous service: submit, dedupe, run, record.

    Subclass it and define ``main(..., logger=None)``; optionally ``setup()``,
    ``get_task_id(**params)``, ``retrieve(task_id)`` and ``callback(future, task_id)``.
    Everything the service runs on lives in one private attribute, ``_asynctask``.
    """

    def __init__(
        self,
        collection: Any = None,
        logger_dir: str | os.PathLike = defaults.LOGGER_DIR,
        max_worker: int | None = None,
        executor: Executor | None = None,
        task_timeout: float | timedelta = defaults.TASK_TIMEOUT,
        rerun_time_limit: float | timedelta | None = None,
        *,
        repository: TaskRepository | None = None,
        lease: float | timedelta | None = defaults.LEASE,
        resume: bool = False,
        clock: Callable[[], datetime] = utc_now,
        monitor_interval: float = defaults.MONITOR_INTERVAL,
        keep_finished: float | timedelta | None = None,
        retries: int = 0,
        retry_backoff: float | timedelta = 1.0,
        retry_backoff_max: float | timedelta = 300.0,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
        metrics: Any = True,
    ) -> None:
        owner = type(self).__name__
        if type(self).main is AsyncTask.main:
            raise TypeError(f"{owner} must define main(self, ..., logger=None)")
        main_signature(self.main, owner)  # accepts logger, or a clear TypeError now
        policy = Policy(
            task_timeout,
            rerun_time_limit,
            lease,
            keep_finished,
            retries=retries,
            retry_backoff=retry_backoff,
            retry_backoff_max=retry_backoff_max,
            retry_on=retry_on,
        )
        repository = choose_repository(collection, repository)
        logger_dir = os.fspath(logger_dir)
        os.makedirs(logger_dir, exist_ok=True)
        executor, owns_executor = choose_executor(max_worker, executor, owner)
        self._asynctask = Runtime(
            self,
            policy=policy,
            repository=repository,
            executor=executor,
            owns_executor=owns_executor,
            clock=clock,
            logger_dir=logger_dir,
            resume=resume,
            monitor_interval=monitor_interval,
            default_task_ids=type(self).get_task_id is AsyncTask.get_task_id,
            default_callback=type(self).callback is AsyncTask.callback,
            metrics=choose_metrics(metrics, owner),
        )
        atexit.register(_shutdown_at_exit, weakref.ref(self))

    @property
    def repository(self) -> TaskRepository:
        """The store of this service's tasks."""
        return unwatched(self._asynctask.repository)

    @property
    def logger_dir(self) -> str:
        """Where the task logs go: ``<logger_dir>/<task_id>.log``."""
        return self._asynctask.logger_dir

    # -- the methods a subclass defines or overrides -------------------------

    def main(self, logger: logging.Logger | None = None, **params: Any) -> Any:
        """The work itself; its return value becomes the task's ``result``."""
        raise NotImplementedError

    def setup(self) -> None:
        """Load heavy state (a model ...) once per worker process, before its first task."""

    def get_task_id(self, **params: Any) -> str:
        """The dedupe key of a submission; the default is a new ``uuid4().hex`` each time."""
        return uuid.uuid4().hex

    def retrieve(self, task_id: str) -> dict | None:
        """The task's detail as a dict, or ``None``; a running task past its time reads as failed."""
        return self._asynctask.retrieve(task_id)

    def callback(self, future: Future, task_id: str) -> None:
        """Called when an attempt ends; the default records its result or error."""
        self._asynctask.record_callback(future, task_id)

    # -- public helpers --------------------------------------------------------

    def run(self, task_id: str = "", **params: Any) -> str:
        """Submit ``main(**params)`` and return its task id at once.

        With ``task_id`` alone: rerun that stored task with its stored params
        (``TaskNotFoundError`` if there is none). With ``task_id`` and params:
        submit them under that id. A task already running, or finished and
        not expired, is kept, not run again.
        """
        return self._asynctask.request(params, task_id, validated=False).task_id

    def submit(
        self, params: Mapping[str, Any], task_id: str = "", *, validated: bool = False
    ) -> tuple[str, Any]:
        """Submit like ``run``; answer the task id and its detail, as ``retrieve`` would.

        ``validated``: the caller (the HTTP layer) has checked ``params`` against ``main``.
        """
        task = self._asynctask.request(params, task_id, validated=validated)
        if getattr(self.retrieve, "__func__", None) is not AsyncTask.retrieve:
            return task.task_id, self.retrieve(task.task_id)  # a user's retrieve is honoured
        return task.task_id, task_detail(task)

    def list_tasks(
        self,
        status: str | None = None,
        *,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> dict:
        """One page of tasks, newest first: ``{"tasks": [detail, ...], "next_cursor": str | None}``.

        Each detail is what ``retrieve`` answers. ``status``: ``running``,
        ``success`` or ``failed``; ``limit``: 1 to 1000; ``cursor``: the
        ``next_cursor`` of the page before (``None`` on the last page);
        ``since <= create_time < until`` (aware datetimes, or RFC 3339 times
        such as ``"2026-12-01T08:00:00Z"``). A bad argument raises ``ValueError``
        (``InvalidArgumentError``) naming it.
        """
        query = ListQuery.check(status, limit, cursor, since, until)
        overridden = getattr(self.retrieve, "__func__", None) is not AsyncTask.retrieve
        return self._asynctask.list_tasks(query, self.retrieve if overridden else None)

    def counts(self) -> dict[str, int]:
        """How many tasks are in each status, as stored: ``{"running": n, "success": n, "failed": n}``."""
        return self._asynctask.counts()

    def wait_for(self, task_id: str, *, version: int | None = None, timeout: float = 30.0) -> dict:
        """The task's detail once it changes: a long-poll.

        Answers as soon as the task's ``version`` is not ``version`` (``None``:
        the one stored now) or it is finished, or after ``timeout`` seconds
        (0 to 60) with the task as it is. A write made in this process wakes
        it at once; one made by another process is seen within half a second.
        ``TaskNotFoundError`` for an unknown (or deleted) task.
        """
        task = self._asynctask.wait_for_change(task_id, version, timeout)
        return _detail_of(self, task)

    def watch(self, task_id: str, after_version: int | None = None) -> Iterator[dict | None]:
        """The task's detail at every change, up to its finished one: what ``/events`` streams.

        Starts with the detail as it is unless its version is ``after_version``
        (a client reconnecting gets no duplicate). Yields ``None`` when nothing
        changed for 5 s. ``TaskNotFoundError`` at once for an unknown task;
        it ends when the task is gone (or a user's ``retrieve`` answers ``None``).
        """
        return _details(self, self._asynctask.watch(task_id, after_version))

    def cancel(self, task_id: str) -> dict:
        """Cancel a running task: it is recorded ``failed`` at once, and its detail is answered.

        Its ``error`` ends with ``TaskCancelledError: cancelled by request``; a
        queued attempt never starts, and a running one's late result is
        dropped. The work itself stops where it can: ``progress()`` raises
        ``TaskCancelledError`` in a thread, and a ``ProcessPool`` ends the
        process. From another process, the owner stops it at its next
        heartbeat round. ``TaskNotFoundError`` for an unknown id;
        ``TaskFinishedError`` for a task that has ended.
        """
        return self._asynctask.cancel(task_id)

    def read_log(self, task_id: str, offset: int = 0, limit: int = DEFAULT_LOG_READ) -> dict:
        """The task's log from byte ``offset``: ``{"task_id", "text", "next_offset"}``.

        At most ``limit`` bytes (4 to 1 MiB), never splitting a UTF-8
        character; pass ``next_offset`` back to read on. An unknown task raises
        ``TaskNotFoundError``; a task with no log yet answers empty text.
        """
        return self._asynctask.read_log(task_id, offset, limit)

    def purge(
        self, older_than: float | timedelta, status: str | None = None, *, dry_run: bool = False
    ) -> int:
        """Delete finished tasks whose ``end_time`` is ``older_than`` ago or more, with their logs.

        Running tasks are never deleted; ``status``: only ``success`` or only
        ``failed`` ones. Answers how many were deleted (``dry_run``: how many
        would be, deleting nothing).
        """
        return self._asynctask.purge(older_than, status, dry_run)

    def get_logger(self, task_id: str) -> logging.Logger:
        """The task's logger (``logging.getLogger(task_id)``), writing to its log file."""
        return task_logger(task_id, self._asynctask.logger_dir)

    def update_task(self, task_id: str, data: Mapping[str, Any]) -> None:
        """Set ``status``, ``result``, ``error`` or extra fields of a stored task."""
        self._asynctask.update_task(task_id, data)

    def app(self, endpoint: str = defaults.ENDPOINT, **options: Any):
        """A ``flask.Flask`` app serving this task at ``endpoint`` (option: ``max_content_length``)."""
        from asynctask.http import create_app  # the one import upwards: http is built on the service

        return create_app(self, endpoint, **options)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every attempt submitted here is recorded (store retries too); ``False`` on timeout."""
        return self._asynctask.wait(timeout)

    def in_flight(self) -> list[tuple[str, int, bool]]:
        """``(task_id, attempt, started)`` of every attempt submitted here and not recorded yet."""
        return self._asynctask.in_flight()

    def shutdown(self, wait: bool = True, *, cancel_pending: bool = False) -> None:
        """Stop heartbeats, the queue line, and the executor this service created.

        ``cancel_pending``: tasks not started yet are cancelled and recorded
        as failed instead of being run first.
        """
        self._asynctask.shutdown(wait, cancel_pending)

    def __enter__(self) -> AsyncTask:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def __getstate__(self) -> dict:
        # Sent to another process: no store, executor or threads travel with it.
        state = dict(self.__dict__)
        runtime = state["_asynctask"]
        state["_asynctask"] = WorkerSide(runtime.token, runtime.logger_dir)
        return state


def _details(service: AsyncTask, versions: Iterator[Any]) -> Iterator[dict | None]:
    """The detail of each version as ``retrieve`` answers it; ``None`` items (keep-alives) pass on."""
    for task in versions:
        if task is None:
            yield None
            continue
        found = _detail_of(service, task)
        if found is None:  # gone, as retrieve sees it: nothing more to stream
            return
        yield found


def _detail_of(service: AsyncTask, task: Any) -> dict | None:
    """What ``retrieve`` answers for ``task``, just read; a user's is asked, and given the stored
    ``status`` and ``version`` where it has none."""
    if getattr(service.retrieve, "__func__", None) is AsyncTask.retrieve:
        return service._asynctask.detail(task)
    found = service.retrieve(task.task_id)
    if isinstance(found, dict) and not {"status", "version"} <= found.keys():  # what streams decide on
        found = {"status": task.status.value, "version": task.version, **found}
    return found


def _shutdown_at_exit(service_ref: weakref.ref) -> None:
    """At interpreter exit: record what is left, as ``shutdown()`` would."""
    service = service_ref()
    runtime = getattr(service, "_asynctask", None)
    if isinstance(runtime, Runtime) and not runtime.stopping:
        service.shutdown(wait=True)
