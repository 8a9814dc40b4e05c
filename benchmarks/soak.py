"""The soak: many tasks through one in-process service, with its fds, threads and RSS sampled on the way."""

from __future__ import annotations

import gc
import logging
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from benchmarks.apps import NoOp, repository_for


def resources() -> dict:
    """Open file descriptors, live threads, resident memory (MiB) and registered loggers of this process."""
    with open("/proc/self/status") as status:
        rss_kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return {
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": threading.active_count(),
        "rss_mib": rss_kib / 1024,
        "loggers": len(logging.Logger.manager.loggerDict),
    }


def soak(store: str, total: int, checkpoints: tuple[int, ...], batch: int = 100) -> dict:
    """POST ``total`` no-op jobs through the Flask app of one service, ``batch`` at a time.

    After each checkpoint (all jobs so far recorded, garbage collected) the
    process's resources are sampled; answers ``{checkpoint: resources}`` and the
    seconds it took.
    """
    os.environ.setdefault("DISABLE_STREAM_HANDLER", "1")
    with tempfile.TemporaryDirectory(prefix="asynctask-soak-") as folder, ThreadPoolExecutor(8) as executor:
        _start_every_thread(executor, 8)  # so that the pool's own growth is not read as a leak
        url = store.replace("{dir}", folder)
        service = NoOp(
            repository=repository_for(url), logger_dir=os.path.join(folder, "logs"), executor=executor
        )
        client = service.app("/api").test_client()
        samples, start, done = {}, time.perf_counter(), 0
        for checkpoint in sorted(checkpoints):
            while done < checkpoint:
                for _ in range(min(batch, checkpoint - done)):
                    answer = client.post("/api", json={"data": {}})
                    assert answer.status_code == 200, answer.get_json()
                    done += 1
                service.wait()
            gc.collect()
            samples[checkpoint] = resources()
        seconds = time.perf_counter() - start
        service.shutdown()
        service.repository.close()
    return {"samples": samples, "seconds": seconds}


def _start_every_thread(executor: ThreadPoolExecutor, threads: int) -> None:
    barrier = threading.Barrier(threads + 1)
    for _ in range(threads):
        executor.submit(barrier.wait)
    barrier.wait()
