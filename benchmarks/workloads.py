"""The workloads, each measuring one served contestant once and answering a dict of figures."""

from __future__ import annotations

import statistics
import time

from benchmarks.baselines import JOB_WORKERS
from benchmarks.client import Connection, have_wrk, run_parallel, wrk_get
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
