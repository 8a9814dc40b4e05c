"""The queue line of the original: how many tasks wait and run, in ``threads_num.log``."""

from __future__ import annotations

import logging
import os

from asynctask.logs import LOG_FORMAT, MONITOR_FILE

__all__ = ["MONITOR_FILE", "QueueLog"]


class QueueLog:
    """Writes ``waiting: W, running: R`` lines for one service to its own handler."""

    def __init__(self, name: str, logger_dir: str) -> None:
        self._path = os.path.join(logger_dir, MONITOR_FILE)
        # A logger of its own, not registered with logging: services never share handlers.
        self._logger = logging.Logger(f"asynctask.monitor.{name}")

    def write(self, waiting: int, running: int) -> str:
        """Write one line and return it."""
        if not self._logger.handlers:
            handler = logging.FileHandler(self._path, encoding="utf-8")
            handler.setFormatter(logging.Formatter(LOG_FORMAT))
            self._logger.addHandler(handler)
        line = f"waiting: {waiting}, running: {running}"
        self._logger.info(line)
        return line

    def close(self) -> None:
        """Close the file."""
        for handler in list(self._logger.handlers):
            self._logger.removeHandler(handler)
            handler.close()
