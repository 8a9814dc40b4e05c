"""What an executor runs: one picklable, module-level call per task attempt.

The call carries the service without its store and executor, so thread
pools, process pools (fork or spawn) and Dask run it alike. In the process
that submitted it, the call reports its start to the store; elsewhere it
brings its start time back with the outcome.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timezone
from typing import Any

from attrs import frozen

from asynctask.core.errors import AttemptSupersededError, RemoteTaskError
from asynctask.service.logs import close_task_logger, open_task_logger

_log = logging.getLogger("asynctask")


@frozen
class TaskCall:
    """One attempt of one task: the service (without its runtime), the id, the attempt, the params.

    ``logger_dir`` is where the task's log goes; ``token`` names the service,
    so each process prepares it (``setup()``) once.
    """

    service: Any
    task_id: str
    attempt: int
    params: dict
    logger_dir: str
    token: str
    #: The service's ``retry_on``: a failure in another process is matched against it there.
    retry_on: tuple = (Exception,)


@frozen
class RemoteOutcome:
    """How an attempt ended in another process: its result or its traceback text, and its start."""

    result: Any
    error: str | None
    start_time: datetime
    retryable: bool = False


class StartHook:
    """Reports the start of an attempt to the store; answers ``False`` if it was superseded.

    Pickled (sent to another process), it becomes a ``RemoteStart``: the
    store is not there, and the start time travels back with the outcome.
    ``ask``: what the other process calls to learn whether the attempt may
    still start (cancelled, timed out or rerun while it was queued there).
    """

    remote = False

    def __init__(self, report: Callable[[], bool], ask: Any = None) -> None:
        self._report, self._ask = report, ask

    def __call__(self) -> bool:
        return self._report()

    def __reduce__(self):
        return (RemoteStart, (self._ask,))


class RemoteStart:
    """The start hook as seen in another process: it asks the service, when it can, whether to start."""

    remote = True

    def __init__(self, ask: Callable[[], bool] | None = None) -> None:
        self._ask = ask

    def __call__(self) -> bool:
        return True if self._ask is None else self._ask()


_prepared: dict[str, Any] = {}
_prepared_lock = threading.Lock()


def prepared(call: TaskCall) -> Any:
    """This process's instance of the service of ``call``, with ``setup()`` done once per process."""
    with _prepared_lock:
        instance = _prepared.get(call.token)
        if instance is None:
            call.service.setup()
            instance = _prepared[call.token] = call.service
        return instance


def forget_prepared(token: str) -> None:
    """Drop this process's instance of the service named ``token`` (at shutdown)."""
    with _prepared_lock:
        _prepared.pop(token, None)


def execute_task(call: TaskCall, hook: StartHook | RemoteStart, progress: Any = None) -> Any:
    """Run ``main`` for one attempt with its task logger open, and close it after.

    ``progress``: the attempt's progress callable, if ``main`` declares one;
    its last report is sent before the outcome.
    """
    start_time = datetime.now(timezone.utc) if hook.remote else None  # here, the hook keeps it
    logger = open_task_logger(call.task_id, call.logger_dir)
    extra = {} if progress is None else {"progress": progress}
    try:
        if not hook():
            raise AttemptSupersededError(
                f"attempt {call.attempt} of task {call.task_id!r} was superseded before it started"
            )
        # The task's file holds what main logs (and its failure): a silent task writes no file.
        _log.debug("task %s attempt %d started", call.task_id, call.attempt)
        try:
            result = prepared(call).main(logger=logger, **extra, **call.params)
        finally:
            if progress is not None:
                progress.flush()
        _log.debug("task %s attempt %d succeeded", call.task_id, call.attempt)
    except AttemptSupersededError:
        raise
    except Exception as exc:
        logger.exception("task %s attempt %d failed", call.task_id, call.attempt)
        if hook.remote:
            return RemoteOutcome(None, format_error(exc), start_time, isinstance(exc, call.retry_on))
        raise
    finally:
        close_task_logger(call.task_id)
    return RemoteOutcome(result, None, start_time) if hook.remote else result


def format_error(exc: BaseException, *, with_traceback: bool = True) -> str:
    """Traceback text whose last line is ``ExcType: message``."""
    if with_traceback:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    else:
        text = "".join(traceback.format_exception_only(type(exc), exc))
    return text.rstrip("\n")


def unwrap_remote(future: Future) -> tuple[Future, datetime | None]:
    """What ``callback`` sees: the result of ``main``, even when it ran in another process.

    Also the start time an attempt in another process brought back (``None`` otherwise).
    """
    if future.cancelled() or future.exception() is not None or not isinstance(future.result(), RemoteOutcome):
        return future, None
    outcome: RemoteOutcome = future.result()
    view: Future = Future()
    view.set_running_or_notify_cancel()
    if outcome.error is None:
        view.set_result(outcome.result)
    else:
        view.set_exception(RemoteTaskError(outcome.error, outcome.retryable))
    return view, outcome.start_time
