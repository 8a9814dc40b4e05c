"""The README's executor examples run as scripts, as a user would paste them."""

import re
from pathlib import Path

import pytest

from tests.e2e.server import run_script

README = Path(__file__).resolve().parents[2] / "README.md"


def example(name: str) -> str:
    match = re.search(
        rf"<!-- example: {name} -->\s*```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S
    )
    assert match, f"README lost its {name} example"
    return match.group(1)


@pytest.mark.parametrize(
    ("name", "printed"),
    [
        ("processes", "5"),
        ("dask", "[0, 1, 4, 9]"),
        ("timeout", "failed TimeoutError: the task ran longer than task_timeout (0:00:00.200000)"),
        ("operating", "['ValueError: no negative numbers']"),
        ("progress", "epoch 20 of 20"),
        ("cancel", "asynctask.core.errors.TaskCancelledError: cancelled by request"),
        ("retries", "success 3 3"),
        ("processpool", "TimeoutError: the task ran longer than task_timeout (0:00:01) True"),
        ("live", "running success 42"),
    ],
)
def test_the_example_prints_what_the_readme_says(tmp_path, name, printed):
    # Not dask.py: a script of that name would shadow the package.
    done = run_script(tmp_path / f"example_{name}.py", example(name))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == printed
    assert f"# {printed}" in example(name)
