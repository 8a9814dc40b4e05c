"""Per-task log files, their handlers, and the queue monitor."""

import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from asynctask import InMemoryTaskRepository
from asynctask.service.logs import MONITOR_FILE, close_task_logger, log_file_name, open_task_logger
from asynctask.service.runtime import runtime_of
from tests.service.apps import Counter


def open_fds(under=None) -> int:
    """Open file descriptors of this process (only those on files below ``under``, if given)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        count += under is None or target.startswith(str(under))
    return count


def test_each_task_writes_its_own_log_file(service, executor, tmp_path):
    service.run(name="a")
    service.run(name="b", fail=True)
    executor.run_all()
    text_a = (tmp_path / "logs" / "task-a.log").read_text()
    text_b = (tmp_path / "logs" / "task-b.log").read_text()
    # The original library's line: [process] time | LEVEL | task_id | module:line - message
    assert re.search(
        rf"^\[ *{os.getpid()}\] \d{{4}}-\d\d-\d\d [\d:,]+ \| INFO     \| task-a \| apps:\d+ - running a$",
        text_a,
        re.M,
    )
    assert "running b" not in text_a
    assert "ValueError: b failed on purpose" in text_b


@pytest.mark.parametrize("task_id", ["../../etc/passwd", "a/b", "..", "x" * 300, "名字", "a.b"])
def test_a_raw_task_id_never_becomes_a_path(task_id):
    name = log_file_name(task_id)
    assert os.sep not in name and not name.startswith(".") and len(name) < 100
    assert name.endswith(".log")


def test_distinct_unsafe_ids_get_distinct_files():
    assert log_file_name("a/b") != log_file_name("a_b") != log_file_name("a?b")


def test_handlers_are_closed_and_loggers_forgotten_when_the_task_ends(service, executor):
    service.run(name="h")
    executor.run_all()
    assert "task-h" not in logging.Logger.manager.loggerDict


def test_logging_getlogger_task_id_writes_to_the_task_log_while_it_runs(make_service, executor, tmp_path):
    class ViaGetLogger(Counter):
        def main(self, name, fail=False, value=None, logger=None):
            logging.getLogger(f"task-{name}").warning("via getLogger")
            return 1

    make_service(cls=ViaGetLogger).run(name="g")
    executor.run_all()
    text = (tmp_path / "logs" / "task-g.log").read_text()
    assert "| WARNING  | task-g | test_logs:64 - via getLogger" in text


def test_disable_stream_handler_leaves_only_the_file_handler(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DISABLE_STREAM_HANDLER", "1")
    logger = open_task_logger("quiet", str(tmp_path))
    assert [type(h).__name__ for h in logger.handlers] == ["FileHandler"]
    logger.info("said quietly")
    close_task_logger("quiet")
    monkeypatch.setenv("DISABLE_STREAM_HANDLER", "")
    logger = open_task_logger("loud", str(tmp_path))
    assert all(isinstance(h, logging.StreamHandler) for h in logger.handlers) and len(logger.handlers) == 2
    logger.info("said aloud")  # to sys.stderr as it is now (pytest's capture), not as it was at import
    close_task_logger("loud")
    err = capsys.readouterr().err
    assert "said aloud" in err and "said quietly" not in err
    assert "said quietly" in (tmp_path / "quiet.log").read_text()
    assert "said aloud" in (tmp_path / "loud.log").read_text()


def test_a_task_id_that_only_has_child_loggers_is_taken_too(tmp_path):
    logging.getLogger("plugin_pkg.sub")  # "plugin_pkg" itself was never asked for: only a placeholder
    logger = open_task_logger("plugin_pkg", str(tmp_path))
    assert logger.name == "asynctask.task.plugin_pkg"
    close_task_logger("plugin_pkg")
    assert logging.getLogger("plugin_pkg.sub").parent is not logger


@pytest.mark.parametrize("task_id", ["root", "asynctask", "asynctask.http", "logging"])
def test_a_task_id_naming_an_existing_logger_does_not_take_it_over(tmp_path, task_id):
    logging.getLogger("logging")  # a logger some module made
    levels = {name: logging.getLogger(name).level for name in ("asynctask", "asynctask.http")}
    root_level = logging.getLogger().level
    logger = open_task_logger(task_id, str(tmp_path))
    assert logger.name == f"asynctask.task.{task_id}"
    logger.info("hello")
    close_task_logger(task_id)
    assert logging.getLogger().level == root_level and logging.getLogger().handlers == logging.root.handlers
    assert {name: logging.getLogger(name).level for name in levels} == levels
    assert logging.getLogger("asynctask").propagate
    assert "hello" in (tmp_path / log_file_name(task_id)).read_text()


def test_a_task_id_cannot_write_into_the_queue_line_file():
    assert log_file_name("threads_num") != MONITOR_FILE


def test_get_logger_outside_a_run_holds_no_file_open(service, tmp_path):
    before = open_fds(tmp_path)
    for index in range(200):
        service.get_logger(f"outside-{index}").info("a line")
    assert open_fds(tmp_path) == before
    assert "outside-7" not in logging.Logger.manager.loggerDict
    assert "a line" in (tmp_path / "logs" / "outside-7.log").read_text()


def test_get_logger_during_a_run_is_the_run_logger(make_service, executor, tmp_path):
    class Asks(Counter):
        def main(self, name, fail=False, value=None, logger=None):
            return self.get_logger(f"task-{name}") is logger

    service = make_service(cls=Asks)
    service.run(name="same")
    executor.run_all()
    assert service.retrieve("task-same")["result"] is True


def test_two_services_running_one_id_into_two_folders_both_get_their_file(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = open_task_logger("shared", str(tmp_path / "a"))
    second = open_task_logger("shared", str(tmp_path / "b"))
    first.info("from a")
    close_task_logger("shared")
    second.info("from b")
    close_task_logger("shared")
    assert "from b" in (tmp_path / "b" / "shared.log").read_text()
    assert "from a" in (tmp_path / "a" / "shared.log").read_text()


def test_open_files_stay_flat_after_thousands_of_tasks(tmp_path):
    pool = ThreadPoolExecutor(4)
    service = Counter(logger_dir=str(tmp_path), repository=InMemoryTaskRepository(), executor=pool)

    def run_many(start, count):
        for i in range(start, start + count):
            service.run(name=str(i))
        assert service.wait(timeout=60)

    run_many(0, 10)
    after_ten, all_after_ten = open_fds(tmp_path), open_fds()
    loggers = len(logging.Logger.manager.loggerDict)
    run_many(10, 5000)
    # Other tests' background threads (a Dask client) may hold sockets; the logs are what must not leak.
    assert open_fds(tmp_path) <= after_ten <= 1
    assert open_fds() < all_after_ten + 50  # and nothing like one descriptor per task
    assert len(logging.Logger.manager.loggerDict) <= loggers
    assert len(list(tmp_path.glob("task-*.log"))) == 5010
    assert service.retrieve("task-4999")["status"] == "success"
    service.shutdown()
    pool.shutdown()


def test_each_service_writes_queue_lines_to_its_own_file(make_service, executor, tmp_path, repository):
    first = make_service(monitor_interval=3600)
    second = Counter(
        logger_dir=str(tmp_path / "other"), repository=repository, executor=executor, monitor_interval=3600
    )
    first.run(name="w1")
    first.run(name="w2")
    second.run(name="w3")
    assert runtime_of(first).write_queue_line() == "waiting: 2, running: 0"
    runtime_of(second).write_queue_line()
    executor.run_all()
    assert runtime_of(first).write_queue_line() == "waiting: 0, running: 0"
    first_lines = (tmp_path / "logs" / MONITOR_FILE).read_text().splitlines()
    second_lines = (tmp_path / "other" / MONITOR_FILE).read_text().splitlines()
    assert [line.split(" - ")[-1] for line in first_lines] == [
        "waiting: 2, running: 0",
        "waiting: 0, running: 0",
    ]
    assert [line.split(" - ")[-1] for line in second_lines] == ["waiting: 1, running: 0"]
    second.shutdown()


def test_shutdown_stops_the_supervisor_thread(service):
    service.run(name="m")
    thread = runtime_of(service).supervisor._thread
    assert thread.is_alive()
    service.shutdown()
    assert not thread.is_alive()


def test_two_task_ids_never_share_a_logger(tmp_path):
    inside = open_task_logger("asynctask.task.root", str(tmp_path))
    root = open_task_logger("root", str(tmp_path))
    assert inside is not root
    root.info("line of root")
    close_task_logger("root")
    inside.info("line of the other task")
    close_task_logger("asynctask.task.root")
    assert "line of the other task" in (tmp_path / log_file_name("asynctask.task.root")).read_text()
    assert "line of the other task" not in (tmp_path / log_file_name("root")).read_text()
