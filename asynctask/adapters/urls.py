"""Store URLs: ``memory://``, ``sqlite:///path``, ``mongodb://host/db/collection``."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from asynctask.core import StoreUnavailableError, StoreURLError, TaskRepository

#: What ``--store`` defaults to: a SQLite file in the working directory.
DEFAULT_STORE = "sqlite:///asynctask.db"
_FORMS = (
    "memory://, sqlite:///relative/path.db, sqlite:////absolute/path.db, mongodb://host:port/db/collection"
)


def open_repository(url: str) -> TaskRepository:
    """The ``TaskRepository`` a store URL names."""
    if not isinstance(url, str) or "://" not in url:
        raise StoreURLError(f"not a store URL: {url!r}; use one of {_FORMS}")
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        return _memory(url)
    if scheme == "sqlite":
        return _sqlite(url)
    if scheme in ("mongodb", "mongodb+srv"):
        return _mongo(url)
    raise StoreURLError(f"unknown store scheme {scheme!r} in {url!r}; use one of {_FORMS}")


def _memory(url: str) -> TaskRepository:
    from asynctask.adapters.memory import InMemoryTaskRepository

    if url.rstrip("/") != "memory:":
        raise StoreURLError(f"memory:// takes no host or path, got {url!r}")
    return InMemoryTaskRepository()


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:///`` URL (three slashes relative, four absolute)."""
    if not url.lower().startswith("sqlite:///"):
        raise StoreURLError(
            f"a SQLite URL is sqlite:///relative/path.db or sqlite:////absolute/path.db, got {url!r}"
        )
    path = url[len("sqlite:///") :]
    if not path or path.endswith("/") or "?" in path:
        raise StoreURLError(f"a SQLite URL needs a file path (no query), got {url!r}")
    return path


def _sqlite(url: str) -> TaskRepository:
    from asynctask.adapters.sqlite import SqliteTaskRepository

    return SqliteTaskRepository(sqlite_path(url))


def mongo_parts(url: str) -> tuple[str, str, str]:
    """``(client URI, database, collection)`` of ``mongodb://host/db/collection?options``."""
    parts = urlsplit(url)
    names = [name for name in parts.path.split("/") if name]
    if not parts.netloc:
        raise StoreURLError(f"a MongoDB URL needs a host: {url!r}")
    if len(names) != 2:
        raise StoreURLError(f"a MongoDB URL ends in /database/collection, got path {parts.path!r} in {url!r}")
    client_uri = urlunsplit((parts.scheme, parts.netloc, f"/{names[0]}", parts.query, ""))
    return client_uri, names[0], names[1]


def _mongo(url: str) -> TaskRepository:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    from asynctask.adapters.mongo import MongoTaskRepository

    client_uri, database, collection = mongo_parts(url)
    try:
        client = MongoClient(client_uri, tz_aware=True)
    except Exception as exc:  # pymongo's ConfigurationError, InvalidURI, ValueError ...
        raise StoreURLError(f"invalid MongoDB URL {url!r}: {exc}") from exc
    try:
        return MongoTaskRepository(client[database][collection], owns_client=True)
    except (PyMongoError, StoreUnavailableError) as exc:
        client.close()
        raise StoreUnavailableError(
            f"cannot use MongoDB at {parts_host(url)}: {type(exc).__name__}: {exc}"
        ) from exc


def parts_host(url: str) -> str:
    """The host part of a URL, without credentials."""
    return urlsplit(url).netloc.rpartition("@")[2]
