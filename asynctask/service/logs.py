"""Per-task log files (``logger_dir/<safe name>.log``, closed when the task ends) and the queue line."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
import threading

#: The line format of task logs, the original library's: process id, time, level, task id, where, message.
LOG_FORMAT = "[{process:>5}] {asctime} | {levelname:<8} | {task_id} | {module}:{lineno} - {message}"
#: The line format of the queue line (``threads_num.log``).
QUEUE_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
#: The file of the queue lines, in every ``logger_dir``; no task log may take its name.
MONITOR_FILE = "threads_num.log"
#: Where a task's logger lives when ``logging.getLogger(task_id)`` is some other logger already.
NAMESPACE = "asynctask.task."

#: The most bytes one read of a task's log answers, and the least (a UTF-8 character is up to 4).
MAX_LOG_READ, MIN_LOG_READ = 1024 * 1024, 4
#: How many bytes a read answers unless asked otherwise.
DEFAULT_LOG_READ = 64 * 1024

_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_lock = threading.Lock()
_open: dict[str, _OpenLogger] = {}


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (pytest's capture, a redirect ...)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr


class _OpenLogger:
    """A task logger while runs of its task are open: its name, its users, its handlers by file."""

    def __init__(self, name: str, task_id: str) -> None:
        self.name = name
        self.users = 0
        self.stamp = _TaskId(task_id)
        self.files: dict[str, logging.Handler] = {}
        self.echo: logging.Handler | None = None  # its handler to stderr, once attached


def log_file_name(task_id: str) -> str:
    """A file name for the task's log; a raw id never becomes a path."""
    if _SAFE_ID.fullmatch(task_id) and f"{task_id}.log" != MONITOR_FILE:
        return f"{task_id}.log"
    digest = hashlib.sha256(task_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    slug = _UNSAFE_CHARS.sub("_", task_id)[:60].strip("_")
    return f"{slug}-{digest}.log" if slug else f"{digest}.log"


def log_path(logger_dir: str, task_id: str) -> str:
    """Where the task's log file is in ``logger_dir``."""
    return os.path.join(logger_dir, log_file_name(task_id))


def read_log_bytes(path: str, offset: int, limit: int) -> tuple[str, int]:
    """The text of the file from byte ``offset``, at most ``limit`` bytes, and the offset after it.

    A UTF-8 character is never split: one cut by ``limit`` (or still being
    written) is left for the next read, and continuation bytes at ``offset``
    (an offset inside a character) are skipped. No file, or nothing past
    ``offset``: ``("", offset)``.
    """
    try:
        with open(path, "rb") as file:
            if offset >= os.fstat(file.fileno()).st_size:
                return "", offset
            file.seek(offset)
            data = file.read(limit)
    except FileNotFoundError:
        return "", offset
    start = 0
    while start < min(len(data), 3) and data[start] & 0xC0 == 0x80:
        start += 1
    end = _whole_characters(data, start)
    return data[start:end].decode("utf-8", errors="replace"), offset + end


def _whole_characters(data: bytes, start: int) -> int:
    """The end of ``data`` with an incomplete last character cut off."""
    end = len(data)
    lead = end - 1
    while lead > start and end - lead < 4 and data[lead] & 0xC0 == 0x80:
        lead -= 1
    if lead < start:
        return end
    byte = data[lead]
    size = 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4 if byte >> 3 == 0b11110 else 1
    return end if end - lead >= size else lead


def stream_disabled() -> bool:
    """True when ``DISABLE_STREAM_HANDLER`` is set (to anything but empty/0/false/no)."""
    value = os.environ.get("DISABLE_STREAM_HANDLER")
    return value is not None and value.strip().lower() not in ("", "0", "false", "no")


def open_task_logger(task_id: str, logger_dir: str) -> logging.Logger:
    """``logging.getLogger(task_id)`` writing to ``logger_dir``, for one run of the task.

    Each open is matched by one ``close_task_logger``; overlapping runs share
    the logger, and the last to close closes its handlers and forgets it. An
    id that names another logger already (``root``, ``asynctask``, a module)
    gets ``asynctask.task.<id>`` instead, so a client's id cannot take it over.
    """
    path = log_path(logger_dir, task_id)
    with _lock:
        entry = _open.get(task_id)
        if entry is None:
            entry = _open[task_id] = _OpenLogger(_free_name(task_id), task_id)
        entry.users += 1
        logger = logging.getLogger(entry.name)
        if path not in entry.files:
            entry.files[path] = logging.FileHandler(path, encoding="utf-8", delay=True)
            _for_task(entry.files[path], entry.stamp)
            logger.addHandler(entry.files[path])
        if entry.echo is None and not stream_disabled():
            entry.echo = _Stderr()
            _for_task(entry.echo, entry.stamp)
            logger.addHandler(entry.echo)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        return logger


def close_task_logger(task_id: str) -> None:
    """Undo one ``open_task_logger``; the last one closes the handlers and forgets the logger."""
    with _lock:
        entry = _open.get(task_id)
        if entry is None:
            return
        entry.users -= 1
        if entry.users > 0:
            return
        del _open[task_id]
        logger = logging.getLogger(entry.name)
        for handler in [*entry.files.values(), *([entry.echo] if entry.echo else [])]:
            logger.removeHandler(handler)
            handler.close()
        # Loggers are never freed by logging itself; one per task would grow forever.
        logging.Logger.manager.loggerDict.pop(entry.name, None)


def task_logger(task_id: str, logger_dir: str) -> logging.Logger:
    """The task's logger: the open one while a run is open, else one that holds no file open."""
    with _lock:
        entry = _open.get(task_id)
        if entry is not None:
            return logging.getLogger(entry.name)
    logger = logging.Logger(task_id)  # not registered: nothing to forget later
    stamp = _TaskId(task_id)
    logger.addHandler(_for_task(_AppendingHandler(log_path(logger_dir, task_id)), stamp))
    if not stream_disabled():
        logger.addHandler(_for_task(_Stderr(), stamp))
    logger.propagate = False
    return logger


class _AppendingHandler(logging.Handler):
    """Appends each record to a file it opens and closes again: no descriptor is held."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as file:
                file.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def _free_name(task_id: str) -> str:
    """``task_id`` if no logger has that name (or is below it); else a name of our own, free too."""
    taken = logging.Logger.manager.loggerDict

    def free(name: str) -> bool:
        # A logger below ``name`` ("name.child") left a PlaceHolder under ``name``: taken too.
        return name != "root" and name not in taken

    if free(task_id) and not task_id.startswith(NAMESPACE):
        return task_id
    if free(NAMESPACE + task_id):
        return NAMESPACE + task_id
    return NAMESPACE + hashlib.sha256(task_id.encode("utf-8", "surrogatepass")).hexdigest()


class _TaskId(logging.Filter):
    """Stamps each record a task's handler writes with the task's id, for ``LOG_FORMAT``."""

    def __init__(self, task_id: str) -> None:
        super().__init__()
        self.task_id = task_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.task_id = self.task_id
        return True


def _for_task(handler: logging.Handler, stamp: _TaskId) -> logging.Handler:
    handler.addFilter(stamp)
    handler.setFormatter(_FORMATTER)
    return handler


_FORMATTER = logging.Formatter(LOG_FORMAT, style="{")  # stateless: one for every task handler


class QueueLog:
    """Writes ``waiting: W, running: R`` lines for one service to its own handler."""

    def __init__(self, name: str, logger_dir: str) -> None:
        self._path = os.path.join(logger_dir, MONITOR_FILE)
        # A logger of its own, not registered with logging: services never share handlers.
        self._logger = logging.Logger(f"asynctask.service.logs.{name}")

    def write(self, waiting: int, running: int) -> str:
        """Write one line and return it."""
        if not self._logger.handlers:
            handler = logging.FileHandler(self._path, encoding="utf-8")
            handler.setFormatter(logging.Formatter(QUEUE_FORMAT))
            self._logger.addHandler(handler)
        line = f"waiting: {waiting}, running: {running}"
        self._logger.info(line)
        return line

    def close(self) -> None:
        """Close the file."""
        for handler in list(self._logger.handlers):
            self._logger.removeHandler(handler)
            handler.close()
