"""A task class the command-line tests serve in subprocesses."""

import os
import uuid

from asynctask import AsyncTask


class Recorder(AsyncTask):
    """Leaves one file per run of main in $RECORDER_DIR, so tests can count runs across processes."""

    def get_task_id(self, word, fail=False):
        return f"word-{word}"

    def main(self, word, fail=False, logger=None):
        runs = os.environ["RECORDER_DIR"]
        with open(os.path.join(runs, f"{word}-{os.getpid()}-{uuid.uuid4().hex}"), "w") as mark:
            mark.write(word)
        if fail:
            raise RuntimeError(f"{word} failed on purpose")
        return {"upper": word.upper(), "pid": os.getpid()}


NOT_A_TASK = object()
