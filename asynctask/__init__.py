"""AsyncTask: turn one function into a reliable asynchronous web service."""

from asynctask.adapters.memory import InMemoryTaskRepository
from asynctask.adapters.process_pool import ProcessPool
from asynctask.adapters.sqlite import SqliteTaskRepository
from asynctask.adapters.urls import open_repository
from asynctask.core import (
    AsyncTaskError,
    InMemoryStoreWarning,
    InvalidParamsError,
    OwnerLostError,
    Policy,
    StoreUnavailableError,
    StoreURLError,
    SubmissionConflictError,
    Task,
    TaskCancelledError,
    TaskFinishedError,
    TaskNotFoundError,
    TaskRepository,
    TaskStatus,
    UnencodableValueError,
)
from asynctask.service import AsyncTask

__version__ = "0.1.0"

__all__ = [
    "AsyncTask",
    "AsyncTaskError",
    "InMemoryStoreWarning",
    "InMemoryTaskRepository",
    "InvalidParamsError",
    "OwnerLostError",
    "Policy",
    "ProcessPool",
    "SqliteTaskRepository",
    "StoreURLError",
    "StoreUnavailableError",
    "SubmissionConflictError",
    "Task",
    "TaskCancelledError",
    "TaskFinishedError",
    "TaskNotFoundError",
    "TaskRepository",
    "TaskStatus",
    "UnencodableValueError",
    "open_repository",
]
