"""The workloads, each measuring one served contestant once and answering a dict of figures."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable

from benchmarks.baselines import JOB_WORKERS
from benchmarks.client import Connection, have_wrk, python_get_for, run_counted, run_parallel, wrk_get
from benchmarks.servers import Served

#: How long a sleeping job sleeps, and the throughput 8 job threads cannot beat.
SLEEP = 0.05
IDEAL_SLEEP_JOBS_PER_S = JOB_WORKERS / SLEEP


class WorkloadError(RuntimeError):
    """A contestant answered something a workload did not expect."""


def submit(connection: Connection, params: dict) -> str:
    """POST one job; its task id."""
    status, answer = connection.request("POST", "/api", {"data": params})
    if status != 200:
        raise WorkloadError(f"POST /api answered {status}: {answer}")
    return answer["data"]["task_id"]


def wait_done(connection: Connection, task_id: str, pause: float = 0.0) -> int:
    """GET the task until it succeeded (sleeping ``pause`` between polls); how many GETs it took."""
    polls = 0
    while True:
        status, answer = connection.request("GET", f"/api?task_id={task_id}")
        polls += 1
        state = answer["data"]["status"] if status == 200 else None
        if state == "success":
            return polls
        if state != "running":
            raise WorkloadError(f"GET /api?task_id={task_id} answered {status}: {answer}")
        if pause:
            time.sleep(pause)


def end_to_end(served: Served, jobs: int) -> dict:
    """Submit ``jobs`` no-op jobs over 8 connections, then poll each to success."""
    base = (served.host, served.port)
    submitted = run_parallel(base, [{}] * jobs, submit)
    finished = run_parallel(base, submitted.results, wait_done)
    seconds = submitted.seconds + finished.seconds
    requests = jobs + sum(finished.results)
    return {
        "jobs_per_s": jobs / seconds,
        "submit_per_s": jobs / submitted.seconds,
        "requests_per_s": requests / seconds,
        "client_load": (submitted.client_cpu + finished.client_cpu) / seconds,
    }


def finished_task(served: Served) -> str:
    """Submit one job and wait until it succeeded: the task the status workload GETs."""
    connection = Connection(served.host, served.port)
    task_id = submit(connection, {})
    wait_done(connection, task_id, pause=0.01)
    connection.close()
    return task_id


def status(served: Served, task_id: str, seconds: int, requests: int) -> dict:
    """GET one finished task over 8 connections: with wrk for ``seconds``, else ``requests`` from Python."""
    if have_wrk():
        return wrk_get((served.host, served.port), f"/api?task_id={task_id}", seconds)
    return python_status(served, task_id, requests)


def python_status(served: Served, task_id: str, requests: int) -> dict:
    """The status workload without wrk: the Python client, which may well be the bottleneck."""

    def timed_get(connection: Connection, _: int) -> float:
        start = time.perf_counter()
        code, answer = connection.request("GET", f"/api?task_id={task_id}")
        if code != 200:
            raise WorkloadError(f"GET answered {code}: {answer}")
        return time.perf_counter() - start

    run = run_parallel((served.host, served.port), range(requests), timed_get)
    latencies = sorted(run.results)
    return {
        "requests_per_s": requests / run.seconds,
        "requests": requests,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "client_load": run.client_load,
    }


def sleeping(served: Served, jobs: int) -> dict:
    """Submit ``jobs`` jobs sleeping 50 ms and wait for all; jobs/s and its share of the ideal."""
    base = (served.host, served.port)
    start = time.perf_counter()
    submitted = run_parallel(base, [{"sleep": SLEEP}] * jobs, submit)
    run_parallel(base, submitted.results, lambda connection, task_id: wait_done(connection, task_id, 0.02))
    jobs_per_s = jobs / (time.perf_counter() - start)
    return {"jobs_per_s": jobs_per_s, "of_ideal": jobs_per_s / IDEAL_SLEEP_JOBS_PER_S}


def scaled_status(served: Served, stored: int, seconds: int, requests: int) -> dict:
    """GET random prefilled tasks among ``stored`` (cold as well as hot rows), over 8 connections."""
    if have_wrk():
        return wrk_get((served.host, served.port), "/api?task_id=pre-%07d", seconds, ids=stored)
    from benchmarks.apps import prefilled_id

    base = (served.host, served.port)
    step = max(stored // requests, 1)
    ids = [prefilled_id(index * step % stored) for index in range(requests)]
    run = run_parallel(base, ids, lambda connection, task_id: wait_done(connection, task_id))
    return {"requests_per_s": requests / run.seconds, "client_load": run.client_load}


def submit_only(served: Served, jobs: int) -> dict:
    """POST ``jobs`` no-op jobs over 8 connections (they run meanwhile); submissions/s."""
    run = run_parallel((served.host, served.port), [{}] * jobs, submit)
    return {"submit_per_s": jobs / run.seconds, "client_load": run.client_load}


#: The listing workload: the first page of failed tasks, as an operator's dashboard asks for it.
LIST_LIMIT = 50
LIST_PATH = f"/api/tasks?status=failed&limit={LIST_LIMIT}"


def listing_problem(served: Served) -> str | None:
    """``None`` when ``LIST_PATH`` answers a full page of failed tasks and a next cursor, else what it did."""
    connection = Connection(served.host, served.port)
    try:
        code, answer = connection.request("GET", LIST_PATH)
    except ValueError as exc:  # not JSON
        return f"GET {LIST_PATH} answered something that is not JSON ({exc})"
    finally:
        connection.close()
    envelope = answer if isinstance(answer, dict) else {}
    data = envelope.get("data")
    if code != 200 or envelope.get("status") != "ok" or not isinstance(data, dict):
        return f"GET {LIST_PATH} answered {code}: {str(answer)[:200]}"
    tasks = data.get("tasks") or []
    if len(tasks) != LIST_LIMIT or any(task.get("status") != "failed" for task in tasks):
        return f"GET {LIST_PATH} answered {len(tasks)} tasks, not {LIST_LIMIT} failed ones"
    if not data.get("next_cursor"):
        return f"GET {LIST_PATH} answered no next_cursor although more failed tasks are stored"
    return None


def listing(served: Served, seconds: int) -> dict:
    """GET ``LIST_PATH`` over 8 connections for ``seconds`` (wrk, else the Python client)."""
    base = (served.host, served.port)
    if have_wrk():
        return wrk_get(base, LIST_PATH, seconds)
    return python_get_for(base, [LIST_PATH], seconds)


def status_gets(served: Served, pattern: str, ids: int, seconds: int) -> dict:
    """GET ``pattern % i`` for random ``i`` below ``ids`` (stored tasks), 8 connections, ``seconds``."""
    base = (served.host, served.port)
    if have_wrk():
        return wrk_get(base, pattern, seconds, ids=ids)
    step = max(ids // 5000, 1)
    return python_get_for(base, [pattern % (index * step % ids) for index in range(5000)], seconds)


def while_running(command: list[str], env: dict, measure: Callable[[], dict]) -> tuple[dict, dict]:
    """Start ``command``, then ``measure()`` at once; ``measure``'s figures and the command's.

    The command's figures: ``seconds`` from its start to its exit, its
    ``cpu_seconds``, ``window_seconds`` from its start to the end of
    ``measure``, and what it printed; a command that fails raises ``WorkloadError``.
    """
    finished: list = []

    def run() -> None:
        try:
            finished.append((*run_counted(command, env), time.perf_counter()))
        except OSError as exc:  # could not start it
            finished.append((repr(exc), -1, 0.0, time.perf_counter()))

    started = time.perf_counter()
    waiter = threading.Thread(target=run, daemon=True)
    waiter.start()
    figures = measure()
    measured = time.perf_counter()
    waiter.join(timeout=600)
    if not finished:
        raise WorkloadError(f"{' '.join(command)} did not end within 600 s")
    output, code, cpu, ended = finished[0]
    if code != 0:
        raise WorkloadError(f"{' '.join(command)} exited with {code}:\n{output[-2000:]}")
    return figures, {
        "seconds": ended - started,
        "cpu_seconds": cpu,
        "window_seconds": measured - started,
        "output": output,
    }
