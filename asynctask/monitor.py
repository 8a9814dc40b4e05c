"""The queue line of the original: every interval, how many tasks wait and run."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from asynctask.logs import LOG_FORMAT

#: The file the queue lines go to, in the service's ``logger_dir``.
MONITOR_FILE = "threads_num.log"


class QueueMonitor:
    """A daemon thread writing ``waiting: W, running: R`` lines for one service."""

    def __init__(
        self, name: str, logger_dir: str, counts: Callable[[], tuple[int, int]], interval: float
    ) -> None:
        self.name = name
        self.interval = interval
        self._counts = counts
        self._path = os.path.join(logger_dir, MONITOR_FILE)
        # A logger of its own, not registered with logging: instances never share handlers.
        self._logger = logging.Logger(f"asynctask.monitor.{name}")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            handler = logging.FileHandler(self._path, encoding="utf-8")
            handler.setFormatter(logging.Formatter(LOG_FORMAT))
            self._logger.addHandler(handler)
            self._thread = threading.Thread(target=self._loop, name=self._logger.name, daemon=True)
            self._thread.start()

    def tick(self) -> str:
        """Write one line now and return it."""
        waiting, running = self._counts()
        line = f"waiting: {waiting}, running: {running}"
        self._logger.info(line)
        return line

    def stop(self) -> None:
        """Stop the thread and close the file."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for handler in list(self._logger.handlers):
            self._logger.removeHandler(handler)
            handler.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()
