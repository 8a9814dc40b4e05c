"""The README's executor examples run as scripts, as a user would paste them."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
ROOT = README.parent


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
    ],
)
def test_the_example_prints_what_the_readme_says(tmp_path, name, printed):
    script = tmp_path / f"example_{name}.py"  # not dask.py: it would shadow the package
    script.write_text(example(name), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "DISABLE_STREAM_HANDLER": "1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == printed
    assert f"# {printed}" in example(name)
