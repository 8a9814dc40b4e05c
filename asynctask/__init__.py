"""AsyncTask: turn one function into a reliable asynchronous web service."""

from asynctask.adapters.memory import InMemoryTaskRepository
from asynctask.adapters.sqlite import SqliteTaskRepository
from asynctask.core import (
    AsyncTaskError,
    InvalidParamsError,
    Policy,
    SubmissionConflictError,
    Task,
    TaskNotFoundError,
    TaskRepository,
    TaskStatus,
    UnencodableValueError,
)
from asynctask.service import AsyncTask
from asynctask.wiring import InMemoryStoreWarning

__version__ = "0.1.0"

__all__ = [
    "AsyncTask",
    "AsyncTaskError",
    "InMemoryStoreWarning",
    "InMemoryTaskRepository",
    "InvalidParamsError",
    "Policy",
    "SqliteTaskRepository",
    "SubmissionConflictError",
    "Task",
    "TaskNotFoundError",
    "TaskRepository",
    "TaskStatus",
    "UnencodableValueError",
]
