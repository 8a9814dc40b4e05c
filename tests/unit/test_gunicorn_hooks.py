"""The gunicorn hooks of ``asynctask serve``: a stop signal is never lost, waiting requests end on it."""

from __future__ import annotations

import os
import signal

import pytest

from asynctask.cli import gunicorn_app


@pytest.fixture
def restored_sigterm():
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)
    gunicorn_app._early_stops.clear()


def test_a_sigterm_before_the_worker_has_its_handlers_is_delivered_again_after(restored_sigterm):
    gunicorn_app._post_fork(server=None, worker=None)
    os.kill(os.getpid(), signal.SIGTERM)  # between the fork and the worker's own handlers
    assert gunicorn_app._early_stops == [signal.SIGTERM]

    stopped = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.append(signum))  # the worker's init_signals
    gunicorn_app._post_worker_init(worker=None)

    assert stopped == [signal.SIGTERM]


def test_a_worker_that_got_no_early_signal_is_left_running(restored_sigterm):
    stopped = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.append(signum))
    gunicorn_app._post_worker_init(worker=None)

    assert stopped == []
    os.kill(os.getpid(), signal.SIGTERM)  # a later SIGTERM still reaches the worker's handler
    assert stopped == [signal.SIGTERM]
