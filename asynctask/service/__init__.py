"""The service layer: ``AsyncTask`` (the user's hooks and the public helpers) and the runtime it composes."""

from asynctask.service.base import AsyncTask, task_detail

__all__ = ["AsyncTask", "task_detail"]
