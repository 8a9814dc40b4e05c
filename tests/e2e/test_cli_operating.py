"""Operating a store from the command line: ``asynctask list``, ``logs``, ``purge``, ``--keep-finished``.

Each test types the console script in a shell-like subprocess, in a directory
holding a SQLite store seeded with tasks of chosen times and statuses and a
``logs`` directory of their log files.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from asynctask import Task, TaskStatus
from asynctask.adapters.sqlite import SqliteTaskRepository
from asynctask.service.logs import log_path
from tests.e2e.server import ROOT, free_port

SCRIPT = Path(sys.executable).with_name("asynctask")  # the console script next to this interpreter
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "asynctask"]
ENV = {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONPATH": str(ROOT), "DISABLE_STREAM_HANDLER": "1"}
STORE = "sqlite:///tasks.db"
HEADER = ["TASK_ID", "STATUS", "ATTEMPT", "SUBMITTED", "ENDED", "ERROR"]
BOOM = 'Traceback (most recent call last):\n  File "app.py", line 9, in main\nValueError: boom\n'


def asynctask(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``asynctask ARGS`` typed in ``cwd``."""
    return subprocess.run(
        [*COMMAND, *args], cwd=cwd, env=ENV, capture_output=True, encoding="utf-8", timeout=30
    )


def second(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


class Seeded:
    """A store in ``root/tasks.db`` and logs in ``root/logs``, seeded with four tasks.

    Newest first: ``d-running`` (submitted a second ago, alive), ``c-recent``
    (success, ended seconds ago), ``b-failed`` and ``a-success`` (ended two hours ago).
    """

    def __init__(self, root: Path) -> None:
        self.root, self.logs = root, root / "logs"
        self.logs.mkdir()
        self.repository = SqliteTaskRepository(root / "tasks.db")
        now = datetime.now(timezone.utc)
        self.base = now.replace(microsecond=0) - timedelta(hours=2)
        a = Task.submitted("a-success", {"n": 1}, self.base)
        b = Task.submitted("b-failed", {"n": 2}, self.base + timedelta(minutes=1))
        c = Task.submitted("c-recent", {"n": 3}, now - timedelta(seconds=10))
        self.tasks = {
            "a-success": a.succeeded({"ok": True}, self.base + timedelta(seconds=1)),
            "b-failed": b.failed(BOOM, self.base + timedelta(minutes=1, seconds=2)),
            "c-recent": c.succeeded({"ok": True}, now - timedelta(seconds=5)),
            "d-running": Task.submitted("d-running", {"n": 4}, now - timedelta(seconds=1)),
        }
        for task in self.tasks.values():
            assert self.repository.insert(task)

    def log(self, task_id: str) -> Path:
        return Path(log_path(str(self.logs), task_id))

    def write_logs(self) -> None:
        for task_id in self.tasks:
            self.log(task_id).write_text(f"{task_id} logged\n", encoding="utf-8")

    def stored(self) -> set[str]:
        return {task_id for task_id in self.tasks if self.repository.get(task_id) is not None}


@pytest.fixture
def seeded(tmp_path):
    store = Seeded(tmp_path)
    yield store
    store.repository.close()


def rows(output: str) -> list[str]:
    """The lines of a table after its header, which must be the list header."""
    lines = output.splitlines()
    assert lines[0].split() == HEADER
    return lines[1:]


# -- list ---------------------------------------------------------------------------------------


def test_list_prints_an_aligned_table_newest_first(seeded):
    done = asynctask(seeded.root, "list", "--store", STORE)
    assert done.returncode == 0 and done.stderr == ""
    header, *lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["d-running", "c-recent", "b-failed", "a-success"]
    starts = {name: header.index(name) for name in HEADER}
    attempt_end = starts["ATTEMPT"] + len("ATTEMPT")
    cells = {line.split()[0]: line for line in lines}
    for line in lines:  # every column starts where its header does; the attempt ends under it
        assert line[starts["STATUS"] - 2 : starts["STATUS"]] == "  " and line[starts["STATUS"]] != " "
        assert line[attempt_end - 1] == "1" and line[attempt_end : attempt_end + 2] == "  "
        assert line[starts["SUBMITTED"] :].split()[0].startswith("20")
    failed = cells["b-failed"]
    assert failed[starts["STATUS"] :].startswith("failed ")
    assert failed[starts["SUBMITTED"] :].startswith(second(seeded.base + timedelta(minutes=1)) + "  ")
    assert failed[starts["ENDED"] :].startswith(second(seeded.base + timedelta(minutes=1, seconds=2)) + "  ")
    assert failed[starts["ERROR"] :] == "ValueError: boom"  # the last line of the traceback
    running = cells["d-running"]
    assert running[starts["STATUS"] :].startswith("running ")
    assert running[starts["ENDED"] :].startswith("- ") and running[starts["ERROR"] :] == "-"
    assert cells["a-success"][starts["SUBMITTED"] :].startswith(second(seeded.base) + "  ")


@pytest.mark.parametrize(
    ("status", "expected"),
    [("failed", ["b-failed"]), ("success", ["c-recent", "a-success"]), ("running", ["d-running"])],
)
def test_list_filters_by_status(seeded, status, expected):
    done = asynctask(seeded.root, "list", "--store", STORE, "--status", status)
    assert done.returncode == 0
    assert [line.split()[1] for line in rows(done.stdout)] == [status] * len(expected)
    assert [line.split()[0] for line in rows(done.stdout)] == expected


def test_list_limit_says_how_to_see_more_and_the_cursor_goes_on(seeded):
    first = asynctask(seeded.root, "list", "--store", STORE, "--limit", "2")
    assert first.returncode == 0
    assert [line.split()[0] for line in rows(first.stdout)] == ["d-running", "c-recent"]
    hint = first.stderr.strip()
    assert hint.startswith("more tasks: asynctask list ") and "--cursor " in hint
    # The hint is a command line that works as pasted: same options, the cursor of the next page.
    words = shlex.split(hint.removeprefix("more tasks: "))
    assert words[:2] == ["asynctask", "list"] and "--limit" in words and STORE in words
    second_page = asynctask(seeded.root, *words[1:])
    assert second_page.returncode == 0 and second_page.stderr == ""
    assert [line.split()[0] for line in rows(second_page.stdout)] == ["b-failed", "a-success"]

    cursor = re.search(r"--cursor (\S+)", hint).group(1)
    by_hand = asynctask(seeded.root, "list", "--store", STORE, "--limit", "1", "--cursor", cursor)
    assert [line.split()[0] for line in rows(by_hand.stdout)] == ["b-failed"]
    assert "--cursor" in by_hand.stderr  # a-success is still to come


def test_list_json_prints_one_detail_per_line(seeded):
    done = asynctask(seeded.root, "list", "--store", STORE, "--json")
    assert done.returncode == 0 and done.stderr == ""
    details = [json.loads(line) for line in done.stdout.splitlines()]
    assert [detail["task_id"] for detail in details] == ["d-running", "c-recent", "b-failed", "a-success"]
    failed = details[2]
    assert failed["status"] == "failed" and failed["error"] == BOOM and failed["attempt"] == 1
    assert datetime.fromisoformat(failed["end_time"]) == seeded.tasks["b-failed"].end_time
    assert failed["create_time"].endswith("+00:00") and details[0]["end_time"] is None
    assert details[1]["result"] == {"ok": True}


def test_list_shows_a_running_task_whose_process_died_as_failed_and_leaves_it(tmp_path):
    repository = SqliteTaskRepository(tmp_path / "tasks.db")
    repository.insert(Task.submitted("ghost", {}, datetime.now(timezone.utc) - timedelta(minutes=5)))
    table = asynctask(tmp_path, "list", "--store", STORE)
    (line,) = rows(table.stdout)
    assert line.split()[:2] == ["ghost", "failed"]
    assert "OwnerLostError: no heartbeat from the process running the task" in line
    (detail,) = map(json.loads, asynctask(tmp_path, "list", "--store", STORE, "--json").stdout.splitlines())
    assert detail["status"] == "failed" and "OwnerLostError" in detail["error"]
    lease_off = asynctask(tmp_path, "list", "--store", STORE, "--lease", "0")
    assert rows(lease_off.stdout)[0].split()[:2] == ["ghost", "running"]  # 5 minutes < task_timeout
    assert repository.get("ghost").status is TaskStatus.RUNNING  # list only reads
    repository.close()


@pytest.mark.parametrize(
    ("option", "named"),
    [
        (["--status", "done"], "argument --status: status must be one of running, success, failed"),
        (["--limit", "0"], "argument --limit: limit must be an integer from 1 to 1000, got 0"),
        (["--limit", "many"], "argument --limit: limit must be an integer from 1 to 1000, got 'many'"),
        (["--limit", "5000"], "argument --limit"),
        (["--cursor", "not a cursor"], "argument --cursor"),
        (["--task-timeout", "0"], "task_timeout must be greater than zero"),
    ],
)
def test_list_refuses_a_bad_argument_in_one_line(seeded, option, named):
    done = asynctask(seeded.root, "list", "--store", STORE, *option)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("asynctask list: error: ") and named in line


def test_list_of_an_empty_store_prints_the_header_only(tmp_path):
    SqliteTaskRepository(tmp_path / "tasks.db").close()
    done = asynctask(tmp_path, "list", "--store", STORE)
    assert done.returncode == 0
    assert done.stdout.split() == HEADER and done.stderr == "asynctask list: no tasks\n"
    filtered = asynctask(tmp_path, "list", "--store", STORE, "--status", "failed", "--json")
    assert filtered.stdout == "" and filtered.stderr == "asynctask list: no tasks with status failed\n"


def test_list_of_a_store_that_is_not_there_says_so_and_creates_none(tmp_path):
    done = asynctask(tmp_path, "list", "--store", "sqlite:///typo.db")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("asynctask list: error: no SQLite store at ")
    assert not (tmp_path / "typo.db").exists()


# -- logs ---------------------------------------------------------------------------------------


def test_logs_prints_the_whole_file(seeded):
    # Three 64 KiB pieces; the first cut falls inside a character of three bytes.
    text = "x" * 65534 + "\n" + "".join(f"日本語 line {n}: naïve café ✓\n" for n in range(4000))
    assert len(text.encode("utf-8")) > 2 * 64 * 1024 and text.encode("utf-8")[65535:65538] == "日".encode()
    seeded.log("b-failed").write_text(text, encoding="utf-8")
    done = asynctask(seeded.root, "logs", "b-failed", "--store", STORE, "--log-dir", "logs")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout == text


def test_logs_of_a_task_with_no_log_yet_prints_nothing(seeded):
    done = asynctask(seeded.root, "logs", "d-running", "--store", STORE, "--log-dir", "logs")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_logs_of_an_unknown_task_exits_one(seeded):
    seeded.log("nope").write_text("an orphan file\n", encoding="utf-8")  # the store decides, not the file
    done = asynctask(seeded.root, "logs", "nope", "--store", STORE, "--log-dir", "logs")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == f"asynctask logs: no task 'nope' in {STORE}\n"


class Follower:
    """``asynctask logs TASK --follow`` in the background, its stdout read line by line."""

    def __init__(self, root: Path, task_id: str) -> None:
        self.process = subprocess.Popen(
            [*COMMAND, "logs", task_id, "--follow", "--store", STORE, "--log-dir", "logs"],
            cwd=root,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def next_line(self, timeout: float = 2.0) -> str:
        return self.lines.get(timeout=timeout)

    def finish(self, timeout: float = 2.0) -> tuple[int, str]:
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout)  # every line it printed is in ``lines`` now
        return code, self.process.stderr.read()


def test_logs_follow_prints_new_lines_until_the_task_finishes(seeded):
    log = seeded.log("d-running")
    log.write_text("first\n", encoding="utf-8")
    started = time.monotonic()
    follower = Follower(seeded.root, "d-running")
    assert follower.next_line() == "first\n"
    with log.open("a", encoding="utf-8") as file:
        file.write("second, while it runs\n")
    assert follower.next_line() == "second, while it runs\n"  # printed as it comes
    assert follower.process.poll() is None  # still following: the task runs
    with log.open("a", encoding="utf-8") as file:
        file.write("last words\n")
    running = seeded.repository.get("d-running")
    ended = running.succeeded({"ok": True}, datetime.now(timezone.utc))
    assert seeded.repository.replace(ended, running.version)
    code, err = follower.finish()
    assert code == 0 and follower.next_line() == "last words\n"  # what was left, then the end
    assert err == "asynctask logs: task 'd-running' ended: success\n"
    assert follower.lines.empty()
    assert time.monotonic() - started < 3


def test_logs_follow_exits_quietly_on_ctrl_c(seeded):
    seeded.log("d-running").write_text("first\n", encoding="utf-8")
    follower = Follower(seeded.root, "d-running")
    assert follower.next_line() == "first\n"  # following now
    follower.process.send_signal(signal.SIGINT)
    assert follower.finish() == (130, "")


def test_logs_into_a_pipe_closed_early_ends_without_a_traceback(seeded):
    seeded.log("b-failed").write_text("a line of the log\n" * 100_000, encoding="utf-8")  # > a pipe holds
    command = [*COMMAND, "logs", "b-failed", "--store", STORE, "--log-dir", "logs"]
    with subprocess.Popen(
        command, cwd=seeded.root, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout.readline() == b"a line of the log\n"
        process.stdout.close()  # like ``| head -1``
        assert process.wait(timeout=10) == 1
        assert process.stderr.read() == b""


def test_logs_follow_stops_when_the_process_of_the_task_is_gone(tmp_path):
    repository = SqliteTaskRepository(tmp_path / "tasks.db")
    repository.insert(Task.submitted("ghost", {}, datetime.now(timezone.utc) - timedelta(minutes=5)))
    (tmp_path / "logs").mkdir()
    Path(log_path(str(tmp_path / "logs"), "ghost")).write_text("started\n", encoding="utf-8")
    done = asynctask(tmp_path, "logs", "ghost", "-f", "--store", STORE, "--log-dir", "logs")
    assert done.returncode == 0 and done.stdout == "started\n"
    assert "recorded running, but orphaned" in done.stderr
    assert repository.get("ghost").status is TaskStatus.RUNNING  # logs only reads
    repository.close()


def test_logs_follow_of_a_finished_task_prints_it_and_ends(seeded):
    seeded.log("a-success").write_text("all done\n", encoding="utf-8")
    done = asynctask(seeded.root, "logs", "a-success", "--follow", "--store", STORE, "--log-dir", "logs")
    assert (done.returncode, done.stdout) == (0, "all done\n")


# -- purge --------------------------------------------------------------------------------------


def test_purge_deletes_old_finished_tasks_and_their_logs_only(seeded):
    seeded.write_logs()
    done = asynctask(seeded.root, "purge", "--older-than", "3600", "--store", STORE, "--log-dir", "logs")
    assert (done.returncode, done.stdout, done.stderr) == (0, "deleted 2 task(s)\n", "")
    assert seeded.stored() == {"c-recent", "d-running"}  # recent and running ones stay
    assert [seeded.log(t).exists() for t in sorted(seeded.tasks)] == [False, False, True, True]
    again = asynctask(seeded.root, "purge", "--older-than", "3600", "--store", STORE, "--log-dir", "logs")
    assert again.stdout == "deleted 0 task(s)\n"


def test_purge_of_one_status_keeps_the_other(seeded):
    seeded.write_logs()
    args = ["--store", STORE, "--log-dir", "logs", "--status", "failed"]
    done = asynctask(seeded.root, "purge", "--older-than", "60", *args)
    assert done.stdout == "deleted 1 task(s)\n"
    assert seeded.stored() == {"a-success", "c-recent", "d-running"}
    assert not seeded.log("b-failed").exists() and seeded.log("a-success").exists()
    everything = asynctask(seeded.root, "purge", "--older-than", "0", "--store", STORE, "--log-dir", "logs")
    assert everything.stdout == "deleted 2 task(s)\n" and seeded.stored() == {"d-running"}


def test_purge_dry_run_counts_and_deletes_nothing(seeded):
    seeded.write_logs()
    args = ["--store", STORE, "--log-dir", "logs"]
    done = asynctask(seeded.root, "purge", "--older-than", "3600", "--dry-run", *args)
    assert (done.returncode, done.stdout) == (0, "would delete 2 task(s)\n")
    assert seeded.stored() == set(seeded.tasks)
    assert all(seeded.log(task_id).exists() for task_id in seeded.tasks)


@pytest.mark.parametrize(
    ("option", "named"),
    [
        (["--status", "running"], "argument --status: status must be success or failed"),
        (["--status", "done"], "argument --status"),
        (["--older-than", "-1"], "argument --older-than: older_than must not be negative"),
        (["--older-than", "soon"], "argument --older-than"),
    ],
)
def test_purge_refuses_a_bad_argument_in_one_line_and_deletes_nothing(seeded, option, named):
    args = ["--older-than", "0", "--store", STORE, *option]
    done = asynctask(seeded.root, "purge", *args)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("asynctask purge: error: ") and named in line
    assert seeded.stored() == set(seeded.tasks)


# -- --keep-finished ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "value", "message"),
    [
        (["serve", "asynctask.cli.demo:Factorize"], "0", "keep_finished must be greater than zero, got 0"),
        (["demo"], "-5", "keep_finished must be greater than zero, got -5"),
        (["demo"], "a day", "keep_finished must be seconds"),
    ],
)
def test_serve_refuses_a_bad_keep_finished_in_one_line(tmp_path, command, value, message):
    args = [*command, "--store", STORE, "--log-dir", "logs", "--port", str(free_port())]
    done = asynctask(tmp_path, *args, "--keep-finished", value)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"asynctask {command[0]}: error: ") and message in line


def test_keep_finished_reaches_the_constructor(tmp_path, monkeypatch):
    import asynctask.cli
    from asynctask.cli.options import build
    from asynctask.service.runtime import runtime_of

    monkeypatch.chdir(tmp_path)
    served = []
    monkeypatch.setattr(asynctask.cli, "serve", lambda options, announce=None: served.append(options))
    assert asynctask.cli.main(["demo", "--store", "memory://"]) == 0
    assert asynctask.cli.main(["demo", "--store", "memory://", "--keep-finished", "86400"]) == 0
    assert [options.keep_finished for options in served] == [None, 86400]
    service = build(served[1])
    try:
        assert runtime_of(service).policy.keep_finished == timedelta(days=1)
    finally:
        service.shutdown()


# -- cancel -------------------------------------------------------------------------------------


def test_cancel_records_a_running_task_failed_and_prints_its_detail(seeded):
    done = asynctask(seeded.root, "cancel", "d-running", "--store", STORE)

    assert done.returncode == 0, done.stderr
    detail = json.loads(done.stdout)
    assert detail["task_id"] == "d-running" and detail["status"] == "failed"
    assert detail["error"].endswith("TaskCancelledError: cancelled by request")
    stored = seeded.repository.get("d-running")
    assert stored.status is TaskStatus.FAILED and stored.error == detail["error"]


def test_cancel_of_a_finished_or_unknown_task_exits_1_and_changes_nothing(seeded):
    finished = asynctask(seeded.root, "cancel", "a-success", "--store", STORE)
    unknown = asynctask(seeded.root, "cancel", "nobody", "--store", STORE)

    assert finished.returncode == 1 and "already success" in finished.stderr
    assert unknown.returncode == 1 and "nobody" in unknown.stderr
    assert seeded.repository.get("a-success") == seeded.tasks["a-success"]
