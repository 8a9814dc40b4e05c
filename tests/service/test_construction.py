"""The constructor: stores, executors, timeouts and the shape of main."""

import warnings
from datetime import timedelta

import mongomock
import pytest

from asynctask import AsyncTask, InMemoryStoreWarning, InMemoryTaskRepository
from asynctask.adapters.mongo import MongoTaskRepository
from asynctask.service.runtime import runtime_of


class Api(AsyncTask):
    def main(self, text, logger=None):
        return len(text)


def test_the_original_positional_form_wraps_a_collection(tmp_path):
    collection = mongomock.MongoClient().db.tasks
    with Api(collection, str(tmp_path), max_worker=4) as api:
        assert isinstance(api.repository, MongoTaskRepository)
        assert api.repository.collection is collection
        assert "task_id_1" in collection.index_information()


def test_a_collection_and_a_repository_together_are_a_type_error(tmp_path):
    with pytest.raises(TypeError, match="not both"):
        Api(mongomock.MongoClient().db.t, str(tmp_path), repository=InMemoryTaskRepository())


def test_no_store_at_all_warns_that_nothing_persists(tmp_path):
    with pytest.warns(InMemoryStoreWarning, match="lost when the process ends"):
        api = Api(logger_dir=str(tmp_path))
    assert isinstance(api.repository, InMemoryTaskRepository)
    api.shutdown()


def test_an_injected_repository_gives_no_warning(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Api(logger_dir=str(tmp_path), repository=InMemoryTaskRepository()).shutdown()


@pytest.mark.parametrize("name", ["task_timeout", "rerun_time_limit"])
@pytest.mark.parametrize("value", [0, -5, "1h", timedelta(seconds=-1)])
def test_bad_time_limits_are_a_value_error_naming_the_argument(tmp_path, name, value):
    with pytest.raises(ValueError, match=name):
        Api(logger_dir=str(tmp_path), repository=InMemoryTaskRepository(), **{name: value})


def test_time_limits_take_seconds_or_timedeltas(tmp_path):
    api = Api(
        logger_dir=str(tmp_path),
        repository=InMemoryTaskRepository(),
        task_timeout=90,
        rerun_time_limit=timedelta(hours=1),
    )
    assert (runtime_of(api).policy.task_timeout, runtime_of(api).policy.rerun_time_limit) == (
        timedelta(seconds=90),
        timedelta(hours=1),
    )
    default = Api(logger_dir=str(tmp_path), repository=InMemoryTaskRepository())
    assert runtime_of(default).policy.task_timeout == timedelta(hours=4)


def test_main_without_a_logger_parameter_is_refused_at_construction(tmp_path):
    class NoLogger(AsyncTask):
        def main(self, text):
            return text

    with pytest.raises(TypeError, match="NoLogger.main must accept a 'logger'"):
        NoLogger(logger_dir=str(tmp_path), repository=InMemoryTaskRepository())


def test_main_taking_kwargs_is_accepted(tmp_path):
    class Kw(AsyncTask):
        def main(self, **kwargs):
            return kwargs

    Kw(logger_dir=str(tmp_path), repository=InMemoryTaskRepository()).shutdown()


def test_a_subclass_without_main_is_refused(tmp_path):
    class Empty(AsyncTask):
        pass

    with pytest.raises(TypeError, match="Empty must define main"):
        Empty(logger_dir=str(tmp_path), repository=InMemoryTaskRepository())


def test_max_worker_and_executor_together_are_a_type_error(tmp_path, executor):
    with pytest.raises(TypeError, match="max_worker or executor"):
        Api(logger_dir=str(tmp_path), repository=InMemoryTaskRepository(), max_worker=2, executor=executor)
    with pytest.raises(ValueError, match="max_worker"):
        Api(logger_dir=str(tmp_path), repository=InMemoryTaskRepository(), max_worker=0)


def test_shutdown_leaves_an_injected_executor_running(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        Api(logger_dir=str(tmp_path), repository=InMemoryTaskRepository(), executor=pool).shutdown()
        assert pool.submit(lambda: 42).result() == 42


class Crowded(AsyncTask):
    """A subclass that uses plain names for its own state and methods, as users do."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.policy, self.clock, self.recorder, self.resume, self.stopping = "mine", None, [], "r", True
        self.executor, self.supervisor, self.attempts, self.service_token = None, None, None, None

    def dispatch(self):
        raise AssertionError("the service called a method of the user's")

    def main(self, text, logger=None):
        return text.upper()


def test_a_subclass_may_use_plain_names_of_its_own_without_breaking_the_service(tmp_path):
    with Crowded(logger_dir=str(tmp_path), repository=InMemoryTaskRepository()) as api:
        task_id = api.run(text="mine")
        assert api.wait(5)
        assert (api.retrieve(task_id)["status"], api.retrieve(task_id)["result"]) == ("success", "MINE")


def test_the_framework_names_on_a_subclass_are_the_documented_few():
    names = {name for name in dir(AsyncTask) if not name.startswith("__")}
    assert names == {
        "main", "setup", "get_task_id", "retrieve", "callback",  # the hooks
        "run", "submit", "get_logger", "update_task", "app", "wait", "in_flight", "shutdown",  # helpers
        "list_tasks", "read_log", "purge", "cancel", "counts", "wait_for", "watch",  # operating
        "repository", "logger_dir",  # read-only
    }  # fmt: skip


def test_overwriting_the_store_of_a_running_service_is_refused_loudly(tmp_path):
    with Api(logger_dir=str(tmp_path), repository=InMemoryTaskRepository()) as api:
        with pytest.raises(AttributeError):
            api.repository = InMemoryTaskRepository()
