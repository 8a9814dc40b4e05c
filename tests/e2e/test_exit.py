"""A script that never calls shutdown() still records its tasks when the interpreter exits."""

import textwrap

from asynctask import SqliteTaskRepository
from tests.e2e.server import run_script

SCRIPT = textwrap.dedent(
    """
    import time
    from asynctask import AsyncTask, SqliteTaskRepository

    class Flaky(SqliteTaskRepository):
        refusals = 1

        def replace(self, task, expected_version):
            if task.status.value == "success" and Flaky.refusals:
                Flaky.refusals -= 1
                raise ConnectionError("store hiccup")
            return super().replace(task, expected_version)

    class Nap(AsyncTask):
        def main(self, seconds, logger=None):
            time.sleep(seconds)
            return "rested"

    api = Nap(repository=Flaky("tasks.db"), logger_dir="logs")
    print(api.run(task_id="nap", seconds=0.2))
    """
)


def test_a_script_that_exits_without_shutdown_records_its_task(tmp_path):
    done = run_script(tmp_path / "script.py", SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "nap"
    task = SqliteTaskRepository(tmp_path / "tasks.db").get("nap")
    assert (task.status.value, task.result) == ("success", "rested")
    assert "will retry" in done.stderr
