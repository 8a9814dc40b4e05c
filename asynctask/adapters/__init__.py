"""TaskRepository implementations: one module per store."""

from asynctask.adapters.memory import InMemoryTaskRepository

__all__ = ["InMemoryTaskRepository", "MongoTaskRepository"]


def __getattr__(name: str):
    # The Mongo adapter imports pymongo; load it only when asked for.
    if name == "MongoTaskRepository":
        from asynctask.adapters.mongo import MongoTaskRepository

        return MongoTaskRepository
    raise AttributeError(name)
