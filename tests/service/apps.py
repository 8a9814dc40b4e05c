"""Task classes the service tests serve."""

import os
import threading
import uuid

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


class Worker(AsyncTask):
    """Loads a "model" in ``setup`` (leaving a mark per load) and squares numbers with it."""

    def __init__(self, *args, marks_dir, **kwargs):
        super().__init__(*args, **kwargs)
        self.marks_dir = str(marks_dir)

    def setup(self):
        with open(os.path.join(self.marks_dir, f"setup-{os.getpid()}-{uuid.uuid4().hex}"), "w"):
            pass
        self.model = {"loaded_in": os.getpid()}

    def get_task_id(self, n, fail=False):
        return f"w-{n}"

    def main(self, n, fail=False, logger=None):
        logger.info("working on %s", n)
        if fail:
            raise ValueError(f"{n} failed on purpose")
        return {"square": n * n, "pid": os.getpid(), "model_pid": self.model["loaded_in"]}


class Progressing(AsyncTask):
    """Reports half way, then waits (up to 20 s) for the file ``gate`` before it reports done."""

    def get_task_id(self, gate):
        return "progress-" + os.path.basename(gate)

    def main(self, gate, progress=None, logger=None):
        import time

        progress(0.5, "half way")
        deadline = time.monotonic() + 20
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.01)
        progress(1.0, "done")
        return os.getpid()
