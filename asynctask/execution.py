"""What an executor runs: one module-level call per task attempt."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from attrs import define, field

from asynctask.core import AsyncTaskError
from asynctask.logs import close_task_logger, open_task_logger


class AttemptSupersededError(AsyncTaskError):
    """The attempt was replaced by a newer one before it started; it did not run."""


@define
class TaskCall:
    """One attempt of one task: the service, the id, the attempt and the params.

    ``on_start`` reports the start to the store when the call runs in the
    submitting process; it answers ``False`` when the attempt is superseded.
    """

    service: Any
    task_id: str
    attempt: int
    params: dict
    on_start: Callable[[], bool] | None = field(default=None, eq=False)


def execute_task(call: TaskCall) -> Any:
    """Run ``main`` for one attempt with its task logger open, and close it after."""
    logger = open_task_logger(call.task_id, call.service.logger_dir)
    try:
        if call.on_start is not None and not call.on_start():
            raise AttemptSupersededError(
                f"attempt {call.attempt} of task {call.task_id!r} was superseded before it started"
            )
        logger.info("task %s attempt %d started", call.task_id, call.attempt)
        result = call.service.main(logger=logger, **call.params)
        logger.info("task %s attempt %d succeeded", call.task_id, call.attempt)
        return result
    except AttemptSupersededError:
        raise
    except BaseException:
        logger.exception("task %s attempt %d failed", call.task_id, call.attempt)
        raise
    finally:
        close_task_logger(call.task_id)


def format_error(exc: BaseException, *, with_traceback: bool = True) -> str:
    """Traceback text whose last line is ``ExcType: message``."""
    if with_traceback:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    else:
        text = "".join(traceback.format_exception_only(type(exc), exc))
    return text.rstrip("\n")
