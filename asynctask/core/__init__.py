"""The pure domain of AsyncTask: tasks, their lifecycle and the storage port.

Imports only the standard library and attrs.
"""

from asynctask.core.errors import (
    AsyncTaskError,
    AttemptSupersededError,
    IllegalTransitionError,
    InMemoryStoreWarning,
    InvalidArgumentError,
    InvalidParamsError,
    InvalidTaskIdError,
    OwnerLostError,
    RemoteTaskError,
    ServeError,
    StoreUnavailableError,
    StoreURLError,
    SubmissionConflictError,
    TaskCancelledError,
    TaskFinishedError,
    TaskNotFoundError,
    UnencodableValueError,
    UpdateConflictError,
)
from asynctask.core.ids import check_task_id
from asynctask.core.lifecycle import CANCELLED_ERROR, Action, Decision, Reason, decide, overdue_error
from asynctask.core.listing import MAX_PAGE, Page, Position
from asynctask.core.policy import Policy, to_timedelta
from asynctask.core.ports import TaskRepository
from asynctask.core.status import TaskStatus
from asynctask.core.task import Task, utc

__all__ = [
    "CANCELLED_ERROR",
    "Action",
    "AsyncTaskError",
    "AttemptSupersededError",
    "Decision",
    "IllegalTransitionError",
    "InMemoryStoreWarning",
    "InvalidArgumentError",
    "InvalidParamsError",
    "MAX_PAGE",
    "InvalidTaskIdError",
    "OwnerLostError",
    "Page",
    "Policy",
    "Position",
    "Reason",
    "RemoteTaskError",
    "ServeError",
    "StoreUnavailableError",
    "StoreURLError",
    "SubmissionConflictError",
    "Task",
    "TaskCancelledError",
    "TaskFinishedError",
    "TaskNotFoundError",
    "TaskRepository",
    "TaskStatus",
    "UnencodableValueError",
    "UpdateConflictError",
    "check_task_id",
    "decide",
    "overdue_error",
    "to_timedelta",
    "utc",
]
