"""The two baselines, as gunicorn app factories: small, fair, and speaking the same HTTP as asynctask.

(a) ``design_ceiling()``: Flask, a ``ThreadPoolExecutor`` and a dict under a
lock; the fastest a service of this design can be. (b) ``framework_ceiling()``:
a bare Flask endpoint answering a constant JSON; the fastest Flask answers.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone

from flask import Flask, request

#: Threads that run jobs, for every contestant.
JOB_WORKERS = int(os.environ.get("BENCH_MAX_WORKER", "8"))
#: What (b) answers: the envelope of a finished task, shaped like asynctask's.
CONSTANT = {
    "status": "ok",
    "data": {
        "task_id": "constant",
        "status": "success",
        "result": {"ok": True},
        "error": None,
        "attempt": 1,
        "create_time": "2026-01-01T00:00:00.000000+00:00",
        "update_time": "2026-01-01T00:00:00.000000+00:00",
        "start_time": "2026-01-01T00:00:00.000000+00:00",
        "end_time": "2026-01-01T00:00:00.000000+00:00",
    },
    "error_data": [],
    "error_msg": "",
}


def job(sleep: float = 0.0) -> dict:
    """The work every contestant runs: nothing, or a sleep."""
    if sleep:
        time.sleep(sleep)
    return {"ok": True}


def envelope(data: dict | None, message: str = "") -> dict:
    """The answer shape every contestant uses."""
    return {"status": "error" if message else "ok", "data": data, "error_data": [], "error_msg": message}


def design_ceiling() -> Flask:
    """Baseline (a): submit to a thread pool, keep records in a dict under a lock."""
    app = Flask("baseline_a")
    executor = ThreadPoolExecutor(max_workers=JOB_WORKERS)
    tasks: dict[str, dict] = {}
    lock = threading.Lock()

    def finish(task_id: str, future: Future) -> None:
        error = future.exception()
        ended = {"end_time": _now(), "status": "failed" if error else "success"}
        ended.update(result=None if error else future.result(), error=repr(error) if error else None)
        with lock:
            tasks[task_id] = {**tasks[task_id], **ended}

    @app.post("/api")
    def submit():
        params = request.get_json()["data"]
        task_id = uuid.uuid4().hex
        record = {"task_id": task_id, "status": "running", "result": None, "error": None}
        record.update(create_time=_now(), end_time=None)
        with lock:
            tasks[task_id] = record
        executor.submit(job, **params).add_done_callback(lambda future: finish(task_id, future))
        return envelope(record)

    @app.get("/api")
    def status():
        with lock:
            record = tasks.get(request.args.get("task_id", ""))
        if record is None:
            return envelope(None, "no such task"), 404
        return envelope(record)

    app.add_url_rule("/ping", "ping", lambda: envelope("pong"))
    return app


def framework_ceiling() -> Flask:
    """Baseline (b): a constant JSON for any GET or POST of ``/api``."""
    app = Flask("baseline_b")
    app.add_url_rule("/api", "constant", lambda: CONSTANT, methods=["GET", "POST"])
    app.add_url_rule("/ping", "ping", lambda: envelope("pong"))
    return app


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
