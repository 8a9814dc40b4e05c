"""``serve``'s private PROMETHEUS_MULTIPROC_DIR: made per serve, and those of killed serves swept."""

from __future__ import annotations

import fcntl
import os
import tempfile

import pytest

from asynctask.adapters.prometheus import MULTIPROC_ENV
from asynctask.cli.multiproc import LOCK_FILE, PREFIX, metrics_dir

pytest.importorskip("prometheus_client")


def test_a_serve_sweeps_the_directories_of_serves_that_were_killed_and_only_those(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    killed = tmp_path / f"{PREFIX}4242-abcd_123"  # its lock file is there, and nobody holds it
    running = tmp_path / f"{PREFIX}4243-efgh_456"  # held: a serve still runs (in another PID namespace, say)
    unlocked = tmp_path / f"{PREFIX}4244-ijkl_789"  # no lock file (yet): never taken for an orphan
    look_alikes = [tmp_path / f"{PREFIX}4245", tmp_path / f"{PREFIX}notapid-abcdefgh", tmp_path / "other"]
    for folder in (killed, running, unlocked, *look_alikes):
        folder.mkdir()
        (folder / "counter_1.db").write_bytes(b"x")
    for folder in (killed, running, *look_alikes):
        (folder / LOCK_FILE).touch()
    link = tmp_path / f"{PREFIX}4246-mnop_012"
    link.symlink_to(killed)  # a link to one: neither followed nor removed
    holder = os.open(running / LOCK_FILE, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with metrics_dir() as path:
            assert os.environ[MULTIPROC_ENV] == path
            assert os.path.basename(path).startswith(f"{PREFIX}{os.getpid()}-")
            assert not killed.exists()
            assert running.exists() and unlocked.exists() and all(folder.exists() for folder in look_alikes)
            assert link.is_symlink()
            assert _locked(os.path.join(path, LOCK_FILE))  # its own, from before any worker forks

        assert not os.path.exists(path) and MULTIPROC_ENV not in os.environ
    finally:
        os.close(holder)


def _locked(lock_path: str) -> bool:
    probe = os.open(lock_path, os.O_RDONLY)
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(probe)
    return False


def test_a_serve_of_one_worker_counts_in_memory_and_makes_no_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)

    with metrics_dir(several=False) as path:
        assert path is None and MULTIPROC_ENV not in os.environ
        assert not list(tmp_path.iterdir())
