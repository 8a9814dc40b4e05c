"""The same service behaviour on every kind of executor: threads, processes (fork, spawn), Dask."""

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from asynctask import ProcessPool, SqliteTaskRepository
from tests.service.apps import Progressing, Worker

pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")


@pytest.fixture(scope="session")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def thread_pool(request):
    return ThreadPoolExecutor(2)


def process_pool(method):
    return lambda request: ProcessPoolExecutor(2, mp_context=multiprocessing.get_context(method))


def dask_executor(request):
    return request.getfixturevalue("dask_client").get_executor()


EXECUTORS = {
    "threads": thread_pool,
    "fork": process_pool("fork"),
    "spawn": process_pool("spawn"),
    "dask": dask_executor,
    "pebble": lambda request: ProcessPool(2),
}


@pytest.fixture(params=list(EXECUTORS))
def worker(request, tmp_path):
    executor = EXECUTORS[request.param](request)
    marks = tmp_path / "marks"
    marks.mkdir()
    service = Worker(
        logger_dir=str(tmp_path / "logs"),
        repository=SqliteTaskRepository(tmp_path / "tasks.db"),
        executor=executor,
        marks_dir=marks,
    )
    service.kind = request.param
    yield service
    service.shutdown()
    if request.param != "dask":
        executor.shutdown()


def test_results_failures_and_logs_come_back_from_every_executor(worker, tmp_path):
    ids = [worker.run(n=n, fail=(n == 3)) for n in range(6)]
    assert worker.wait(timeout=60)
    details = {task_id: worker.retrieve(task_id) for task_id in ids}
    assert details["w-2"]["status"] == "success" and details["w-2"]["result"]["square"] == 4
    assert details["w-2"]["start_time"] is not None
    assert details["w-2"]["start_time"] <= details["w-2"]["end_time"]
    failed = details["w-3"]
    assert failed["status"] == "failed" and "Traceback (most recent call last)" in failed["error"]
    assert failed["error"].splitlines()[-1] == "ValueError: 3 failed on purpose"
    assert "working on 5" in (tmp_path / "logs" / "w-5.log").read_text()
    assert "ValueError: 3 failed on purpose" in (tmp_path / "logs" / "w-3.log").read_text()


def test_setup_runs_once_per_worker_process_not_once_per_task(worker, tmp_path):
    for n in range(8):
        worker.run(n=n)
    assert worker.wait(timeout=60)
    results = [worker.retrieve(f"w-{n}")["result"] for n in range(8)]
    pids = {result["pid"] for result in results}
    assert all(result["model_pid"] == result["pid"] for result in results)
    setups = list((tmp_path / "marks").iterdir())
    assert len(setups) == len(pids)
    if worker.kind == "threads":
        assert pids == {os.getpid()}
    else:
        assert os.getpid() not in pids


def test_identical_submissions_run_once_on_every_executor(worker, tmp_path):
    first = worker.run(n=7)
    again = worker.run(n=7)
    assert worker.wait(timeout=60)
    assert first == again == "w-7"
    assert worker.run(n=7) == "w-7" and worker.wait(timeout=60)
    assert worker.retrieve("w-7")["attempt"] == 1
    assert (tmp_path / "logs" / "w-7.log").read_text().count("working on 7") == 1


@pytest.mark.parametrize("kind", list(EXECUTORS))
def test_progress_is_visible_while_the_task_runs_and_its_last_value_stays(kind, request, tmp_path):
    import time

    executor = EXECUTORS[kind](request)
    service = Progressing(
        logger_dir=str(tmp_path / "logs"),
        repository=SqliteTaskRepository(tmp_path / "tasks.db"),
        executor=executor,
    )
    gate = tmp_path / "gate"
    try:
        task_id = service.run(gate=str(gate))
        deadline, seen = time.monotonic() + 10, None
        while time.monotonic() < deadline and not seen:
            seen = service.retrieve(task_id).get("progress")
            time.sleep(0.02)
        assert seen is not None, "no progress while it ran"
        reported = datetime.fromisoformat(seen["time"])
        assert datetime.now(timezone.utc) - reported < timedelta(seconds=1.5)  # visible within about 1 s
        assert (seen["fraction"], seen["message"]) == (0.5, "half way")
        assert service.retrieve(task_id)["status"] == "running"
        gate.touch()
        assert service.wait(20)
        detail = service.retrieve(task_id)
        assert detail["status"] == "success"
        assert (detail["progress"]["fraction"], detail["progress"]["message"]) == (1.0, "done")
    finally:
        service.shutdown()
        if kind != "dask":
            executor.shutdown()
