"""A task class the command-line tests serve in subprocesses."""

import os
import time
import uuid

from asynctask import AsyncTask


class Recorder(AsyncTask):
    """Leaves one file per run of main in $RECORDER_DIR, so tests can count runs across processes."""

    def get_task_id(self, word, fail=False, hold=""):
        return f"word-{word}"

    def main(self, word, fail=False, hold="", logger=None):
        """Record the run; then, while the file ``hold`` exists, wait (at most 30 s)."""
        runs = os.environ["RECORDER_DIR"]
        with open(os.path.join(runs, f"{word}-{os.getpid()}-{uuid.uuid4().hex}"), "w") as mark:
            mark.write(word)
        deadline = time.monotonic() + 30
        while hold and os.path.exists(hold) and time.monotonic() < deadline:
            time.sleep(0.02)
        if fail:
            raise RuntimeError(f"{word} failed on purpose")
        return {"upper": word.upper(), "pid": os.getpid()}


NOT_A_TASK = object()


class Echo(AsyncTask):
    """Answers its number: the cheapest task, for soaks through the real server."""

    def main(self, n, logger=None):
        return n


class Sleeper(AsyncTask):
    """Appends its process id to the file ``marker`` every 20 ms for ``seconds``: its work shows."""

    def setup(self):
        marks = os.environ.get("RECORDER_DIR")
        if marks:  # one file per process that ran setup()
            with open(os.path.join(marks, f"setup-{os.getpid()}"), "w"):
                pass

    def get_task_id(self, marker, seconds=60):
        return "sleep-" + os.path.basename(marker)

    def main(self, marker, seconds=60, logger=None):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with open(marker, "a") as file:
                file.write(f"{os.getpid()}\n")
            time.sleep(0.02)
        return "slept"


class Board(AsyncTask):
    """For the dashboard's browser test: a task succeeds, fails on request, or works while ``hold`` exists."""

    def get_task_id(self, name, note="", fail=False, hold=""):
        return name

    def main(self, name, note="", fail=False, hold="", progress=None, logger=None):
        """Log ``note``; while the file ``hold`` exists (30 s at most), report progress and log."""
        logger.info("note: %s", note)
        deadline, step = time.monotonic() + 30, 0
        while hold and os.path.exists(hold) and time.monotonic() < deadline:
            step += 1
            progress(min(step / 1000, 0.95), f"step {step}")  # raises TaskCancelledError once cancelled
            if step % 10 == 1:
                logger.info("step %d", step)
            time.sleep(0.02)
        if fail:
            raise RuntimeError(f"{name} failed on purpose: {note}")
        return {"name": name, "note": note, "steps": step}
