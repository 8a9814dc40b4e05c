"""TaskRepository implementations, one module per store, and the ``ProcessPool`` executor."""

from asynctask.adapters.memory import InMemoryTaskRepository
from asynctask.adapters.process_pool import ProcessPool

__all__ = ["InMemoryTaskRepository", "MongoTaskRepository", "ProcessPool"]


def __getattr__(name: str):
    # The Mongo adapter imports pymongo; load it only when asked for.
    if name == "MongoTaskRepository":
        from asynctask.adapters.mongo import MongoTaskRepository

        return MongoTaskRepository
    raise AttributeError(name)
