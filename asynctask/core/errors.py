"""The errors AsyncTask raises: one root and small named subclasses."""

from __future__ import annotations


class AsyncTaskError(Exception):
    """Root of every error AsyncTask raises on purpose."""


class TaskNotFoundError(AsyncTaskError, LookupError):
    """No task is stored under the given id."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"no task with task_id {task_id!r}")
        self.task_id = task_id


class InvalidParamsError(AsyncTaskError, TypeError):
    """The params of a submission do not fit ``main``; ``details`` says which and why."""

    def __init__(self, message: str, details: list[dict] | None = None) -> None:
        super().__init__(message)
        self.details = list(details or [])


class InvalidArgumentError(AsyncTaskError, ValueError):
    """An argument of a query (a listing, a log read, a purge) out of its range; ``argument`` names it."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(message)
        self.argument = argument


class InvalidTaskIdError(AsyncTaskError, TypeError, ValueError):
    """A task id that is not a non-empty string; ``field`` names where it came from, ``problem`` says how."""

    def __init__(self, message: str, field: str = "task_id", problem: str = "not_a_string") -> None:
        super().__init__(message)
        self.field, self.problem = field, problem


class IllegalTransitionError(AsyncTaskError):
    """A task was asked to change in a way its lifecycle does not allow."""


class UnencodableValueError(AsyncTaskError, TypeError):
    """A value (a result, params) cannot be held by the store."""


class SubmissionConflictError(AsyncTaskError):
    """A write kept losing compare-and-set races; the store is under heavy contention."""


class UpdateConflictError(SubmissionConflictError):
    """An update of a stored task kept losing compare-and-set races."""


class StoreUnavailableError(AsyncTaskError):
    """The store cannot be reached or refused to answer."""


class OwnerLostError(AsyncTaskError):
    """The process running a task stopped heartbeating: it was killed or its machine is gone."""


class AttemptSupersededError(AsyncTaskError):
    """The attempt was replaced by a newer one before it started; it did not run."""


class RemoteTaskError(AsyncTaskError):
    """An attempt failed in another process; ``str()`` is its traceback text.

    ``retryable``: its exception was one of the service's ``retry_on``, as matched where it ran.
    """

    def __init__(self, text: str = "", retryable: bool = False) -> None:
        super().__init__(text)
        self.retryable = retryable


class StoreURLError(AsyncTaskError, ValueError):
    """A store URL that cannot be understood; the message says what is wrong."""


class ServeError(AsyncTaskError):
    """The service cannot start; the message says why and what to do."""


class TaskCancelledError(AsyncTaskError):
    """The task was cancelled by request; ``progress()`` raises it inside the ``main`` that was cancelled."""


class TaskFinishedError(AsyncTaskError):
    """The task has finished already, so it cannot be cancelled; ``status`` says how it ended."""

    def __init__(self, task_id: str, status: str) -> None:
        super().__init__(f"task {task_id!r} is already {status}: only a running task can be cancelled")
        self.task_id, self.status = task_id, status


class InMemoryStoreWarning(UserWarning):
    """No store was given: tasks live in memory and are lost when the process ends."""
