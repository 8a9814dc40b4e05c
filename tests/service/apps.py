"""Task classes the service tests serve."""

import threading

from asynctask import AsyncTask


class Counter(AsyncTask):
    """Counts its runs; fails on demand; dedupes by ``name``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[dict] = []
        self._calls_lock = threading.Lock()

    def get_task_id(self, name, fail=False, value=None):
        return f"task-{name}"

    def main(self, name, fail=False, value=None, logger=None):
        with self._calls_lock:
            self.calls.append({"name": name})
        logger.info("running %s", name)
        if fail:
            raise ValueError(f"{name} failed on purpose")
        return {"name": name, "value": value} if value is None else value
