"""The command line: serve errors, the demo, status and rerun."""

import json
import signal
import socket

import pytest

from asynctask import TaskStatus
from asynctask.adapters.sqlite import SqliteTaskRepository
from asynctask.cli import DEMO_NUMBER, main
from tests.e2e.sample_app import Recorder
from tests.e2e.server import ROOT, Server, free_port, request


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module:Api", "cannot import module 'no_such_module': ModuleNotFoundError"),
        ("tests.e2e.sample_app", "expected package.module:ClassName"),
        ("tests.e2e.sample_app:Missing", "has no 'Missing'"),
        ("tests.e2e.sample_app:NOT_A_TASK", "is not a subclass of asynctask.AsyncTask"),
        ("asynctask:AsyncTask", "is not a subclass of asynctask.AsyncTask"),
    ],
)
def test_serve_explains_a_target_it_cannot_serve(capsys, target, message):
    assert main(["serve", target, "--store", "memory://"]) == 2
    assert message in capsys.readouterr().err


def test_serve_explains_a_port_in_use(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert (
            main(["serve", "tests.e2e.sample_app:Recorder", "--store", "memory://", "--port", str(port)]) == 2
        )
    assert f"port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err


def test_serve_explains_a_malformed_store_url(capsys, tmp_path):
    args = ["serve", "tests.e2e.sample_app:Recorder", "--port", str(free_port()), "--log-dir", str(tmp_path)]
    assert main([*args, "--store", "postgres://db"]) == 2
    assert "unknown store scheme 'postgres'" in capsys.readouterr().err


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert all(command in out for command in ("serve", "demo", "status", "rerun"))


def test_the_demo_factorizes_over_http_and_stops_cleanly(tmp_path):
    server = Server(["demo"], cwd=tmp_path)
    try:
        code, posted = request("POST", f"{server.base}/api", {"data": {"n": 1001}})
        assert code == 200 and posted["data"]["task_id"] == "factor-1001"
        assert server.wait_status("factor-1001")["result"]["factors"] == [7, 11, 13]
    finally:
        output = server.stop(signal.SIGTERM)
    assert server.process.returncode == 0
    assert f'"n": {DEMO_NUMBER}' in output and f"task_id=factor-{DEMO_NUMBER}" in output
    assert (tmp_path / "asynctask-demo.db").exists()


@pytest.fixture
def stored(tmp_path, monkeypatch):
    """A SQLite store holding a successful and a failed Recorder task."""
    monkeypatch.setenv("RECORDER_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    service = Recorder(logger_dir=str(tmp_path / "logs"), repository=SqliteTaskRepository(tmp_path / "t.db"))
    service.run(word="fine")
    service.run(word="bad", fail=True)
    service.shutdown(wait=True)
    return "sqlite:///t.db"


def test_status_prints_the_task_as_json(stored, capsys):
    assert main(["status", "word-fine", "--store", stored]) == 0
    detail = json.loads(capsys.readouterr().out)
    assert detail["status"] == "success" and detail["result"]["upper"] == "FINE"
    assert detail["end_time"].endswith("+00:00")


def test_status_of_an_unknown_task_exits_one(stored, capsys):
    assert main(["status", "word-nope", "--store", stored]) == 1
    assert "no task 'word-nope'" in capsys.readouterr().err


def test_rerun_reruns_a_failed_task_in_the_foreground(stored, capsys, tmp_path):
    assert main(["rerun", "word-bad", "--store", stored, "--app", "tests.e2e.sample_app:Recorder"]) == 1
    detail = json.loads(capsys.readouterr().out)
    assert (detail["status"], detail["attempt"]) == ("failed", 2)
    assert len(list(tmp_path.glob("bad-*"))) == 2
    repository = SqliteTaskRepository(tmp_path / "t.db")
    assert repository.get("word-bad").status is TaskStatus.FAILED


def test_rerun_keeps_a_fresh_success_and_says_so(stored, capsys):
    assert main(["rerun", "word-fine", "--store", stored, "--app", "tests.e2e.sample_app:Recorder"]) == 0
    captured = capsys.readouterr()
    assert "was kept, not rerun" in captured.err and json.loads(captured.out)["attempt"] == 1


def test_rerun_of_an_unknown_task_is_a_clear_error(stored, capsys):
    assert main(["rerun", "word-nope", "--store", stored, "--app", "tests.e2e.sample_app:Recorder"]) == 2
    assert "no task with task_id 'word-nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--task-timeout", "0"], "task_timeout must be greater than zero"),
        (["--lease", "-1"], "lease must be greater than zero"),
        (["--max-worker", "0"], "max_worker must be a positive int"),
        (["--store", "sqlite:///:memory:"], "needs a file path"),
    ],
)
def test_serve_explains_bad_option_values_in_one_line(capsys, tmp_path, option, message):
    args = ["serve", "tests.e2e.sample_app:Recorder", "--port", str(free_port()), "--log-dir", str(tmp_path)]
    assert main([*args, *option]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_status_of_a_task_whose_process_is_gone_reads_as_the_service_would_answer(tmp_path, capsys):
    from datetime import datetime, timedelta, timezone

    from asynctask import Task

    repository = SqliteTaskRepository(tmp_path / "t.db")
    repository.insert(Task.submitted("ghost", {}, datetime.now(timezone.utc) - timedelta(minutes=5)))
    assert main(["status", "ghost", "--store", f"sqlite:///{tmp_path / 't.db'}"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["status"] == "failed" and "recorded running, but orphaned" in captured.err
    assert repository.get("ghost").status is TaskStatus.RUNNING  # status only reads


def test_serve_takes_a_task_timeout_in_fractions_of_a_second(tmp_path):
    store = f"sqlite:///{tmp_path / 'tasks.db'}"
    args = ["serve", "tests.e2e.sample_app:Echo", "--store", store, "--task-timeout", "2.5", "--workers", "2"]
    server = Server([*args, "--log-dir", str(tmp_path / "logs")], cwd=ROOT)
    try:
        assert request("GET", f"{server.base}/ping")[0] == 200
    finally:
        server.stop()
    assert server.process.returncode == 0


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_serve_explains_a_port_out_of_range_in_one_line(capsys, tmp_path, port):
    args = ["serve", "tests.e2e.sample_app:Recorder", "--store", "memory://", "--log-dir", str(tmp_path)]
    assert main([*args, "--port", port]) == 2
    err = capsys.readouterr().err
    assert "--port must be from 1 to 65535" in err and "Traceback" not in err
