"""Per-task log files: ``logger_dir/<safe name>.log``, closed when the task ends."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading

#: The line format of task logs.
LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"

_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_lock = threading.Lock()
_users: dict[str, int] = {}


def log_file_name(task_id: str) -> str:
    """A file name for the task's log; a raw id never becomes a path."""
    if _SAFE_ID.fullmatch(task_id):
        return f"{task_id}.log"
    digest = hashlib.sha256(task_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    slug = _UNSAFE_CHARS.sub("_", task_id)[:60].strip("_")
    return f"{slug}-{digest}.log" if slug else f"{digest}.log"


def stream_disabled() -> bool:
    """True when ``DISABLE_STREAM_HANDLER`` is set (to anything but empty/0/false/no)."""
    value = os.environ.get("DISABLE_STREAM_HANDLER")
    return value is not None and value.strip().lower() not in ("", "0", "false", "no")


def _owned(logger: logging.Logger) -> list[logging.Handler]:
    return [h for h in logger.handlers if getattr(h, "_asynctask", False)]


def open_task_logger(task_id: str, logger_dir: str, *, counted: bool = True) -> logging.Logger:
    """``logging.getLogger(task_id)`` with a file handler (and a console one).

    A counted open is matched by one ``close_task_logger``; handlers are shared
    by overlapping runs of one id and closed when the last run ends.
    """
    with _lock:
        logger = logging.getLogger(task_id)
        if counted:
            _users[task_id] = _users.get(task_id, 0) + 1
        if not _owned(logger):
            _attach_handlers(logger, os.path.join(logger_dir, log_file_name(task_id)))
        return logger


def _attach_handlers(logger: logging.Logger, path: str) -> None:
    handlers: list[logging.Handler] = [logging.FileHandler(path, encoding="utf-8", delay=True)]
    if not stream_disabled():
        handlers.append(logging.StreamHandler())
    formatter = logging.Formatter(LOG_FORMAT)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._asynctask = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False


def close_task_logger(task_id: str) -> None:
    """Undo one ``open_task_logger``; the last one closes the handlers and forgets the logger."""
    with _lock:
        users = _users.pop(task_id, 1) - 1
        if users > 0:
            _users[task_id] = users
            return
        logger = logging.getLogger(task_id)
        for handler in _owned(logger):
            logger.removeHandler(handler)
            handler.close()
        # Loggers are never freed by logging itself; one per task would grow forever.
        logging.Logger.manager.loggerDict.pop(task_id, None)
