"""``serve``'s private PROMETHEUS_MULTIPROC_DIR: made per serve, and those of killed serves swept."""

from __future__ import annotations

import os
import subprocess
import tempfile

import pytest

from asynctask.adapters.prometheus import MULTIPROC_ENV
from asynctask.cli.multiproc import PREFIX, metrics_dir

pytest.importorskip("prometheus_client")


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_serve_sweeps_the_directories_of_serves_that_were_killed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    killed = tmp_path / f"{PREFIX}{_dead_pid()}-abc"
    running = tmp_path / f"{PREFIX}{os.getppid()}-def"  # a serve still running (this test's parent)
    unrelated = [tmp_path / f"{PREFIX}notapid-x", tmp_path / "other-dir"]
    for folder in (killed, running, *unrelated):
        folder.mkdir()
        (folder / "counter_1.db").write_bytes(b"x")

    with metrics_dir() as path:
        assert os.environ[MULTIPROC_ENV] == path
        assert os.path.basename(path).startswith(f"{PREFIX}{os.getpid()}-")
        assert not killed.exists()
        assert running.exists() and all(folder.exists() for folder in unrelated)

    assert not os.path.exists(path) and MULTIPROC_ENV not in os.environ


def test_a_serve_of_one_worker_counts_in_memory_and_makes_no_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)

    with metrics_dir(several=False) as path:
        assert path is None and MULTIPROC_ENV not in os.environ
        assert not list(tmp_path.iterdir())
