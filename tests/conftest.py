"""Fixtures shared by every test folder."""

import os

import pytest

from tests.support import FakeClock, ManualExecutor

os.environ.setdefault("DISABLE_STREAM_HANDLER", "1")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def executor() -> ManualExecutor:
    return ManualExecutor()
