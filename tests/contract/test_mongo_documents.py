"""The documents the Mongo store writes and reads, over mongomock: the original library's layout."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from asynctask.adapters import MongoTaskRepository
from asynctask.core import TaskStatus

mongomock = pytest.importorskip("mongomock")

ORIGINAL_FIELDS = {"task_id", "status", "result", "error", "update_time"}

# How the original library left a finished task: no version, attempt or params,
# and pymongo's naive UTC datetime.
LEGACY_DOCUMENT = {
    "task_id": "legacy",
    "status": "success",
    "result": {"answer": 42},
    "error": "",
    "update_time": datetime(2023, 5, 17, 8, 30, 15, 250000),
}


@pytest.fixture(params=[False, True], ids=["naive-client", "tz-aware-client"])
def collection(request):
    """A fresh mongomock collection, read naive or timezone-aware."""
    return mongomock.MongoClient(tz_aware=request.param).db[f"tasks_{uuid.uuid4().hex}"]


@pytest.fixture
def store(collection) -> MongoTaskRepository:
    return MongoTaskRepository(collection)


def test_a_task_is_stored_under_the_original_field_names(store, collection, make_task):
    store.insert(make_task())

    document = collection.find_one({"task_id": "task-1"})

    assert ORIGINAL_FIELDS <= document.keys()
    assert type(document["status"]) is str and document["status"] == "success"
    assert document["result"] == make_task().result and document["error"] is None
    assert isinstance(document["update_time"], datetime)
    assert (document["owner"], document["version"]) == ("worker-7", 5)


def test_the_mongo_id_does_not_leak_into_extra(store, make_task):
    store.insert(make_task())

    assert store.get("task-1").extra == make_task().extra


def test_a_document_of_the_original_library_reads_as_a_task_at_version_zero(store, collection):
    collection.insert_one(dict(LEGACY_DOCUMENT))

    task = store.get("legacy")

    assert (task.status, task.result, task.error) == (TaskStatus.SUCCESS, {"answer": 42}, None)
    assert (task.version, task.attempt, task.params, task.extra) == (0, 1, {}, {})
    assert task.update_time == datetime(2023, 5, 17, 8, 30, 15, 250000, tzinfo=timezone.utc)
    assert task.update_time.utcoffset().total_seconds() == 0


def test_a_document_of_the_original_library_can_be_replaced_once_at_version_zero(store, collection, now):
    collection.insert_one(dict(LEGACY_DOCUMENT))
    legacy = store.get("legacy")
    first, second = legacy.resubmitted(now), legacy.updated({"note": "late"}, now)

    assert store.replace(first, expected_version=0) is True
    assert store.replace(second, expected_version=0) is False

    assert store.get("legacy") == first
    assert collection.find_one({"task_id": "legacy"})["version"] == 1


def test_fields_another_writer_added_survive_a_replace(store, collection, make_task, now):
    store.insert(make_task())
    collection.update_one({"task_id": "task-1"}, {"$set": {"tags": ["nightly"], "owner": "cron"}})

    read = store.get("task-1")
    assert store.replace(read.updated({"note": "edited"}, now), expected_version=read.version) is True

    document = collection.find_one({"task_id": "task-1"})
    assert (document["tags"], document["owner"], document["note"]) == (["nightly"], "cron", "edited")
    expected_extra = {"tags": ["nightly"], "owner": "cron", "note": "edited", "progress": 1.0}
    assert store.get("task-1").extra == expected_extra


def test_constructing_the_store_creates_a_unique_index_on_task_id(store, collection):
    indexes = collection.index_information().values()

    assert any(index["key"] == [("task_id", 1)] and index.get("unique") for index in indexes)


def test_an_extra_field_named_like_mongos_own_id_is_refused_clearly(store, now):
    from asynctask.core import Task, UnencodableValueError

    with pytest.raises(UnencodableValueError, match="_id"):
        store.insert(Task.created_by_update("b", {"_id": 1}, now))


def test_documents_without_a_create_time_are_listed_last_and_paged_through(store, collection, make_task):
    collection.insert_one(dict(LEGACY_DOCUMENT))
    collection.insert_one({**LEGACY_DOCUMENT, "task_id": "legacy-2"})
    store.insert(make_task(task_id="new"))

    first = store.list(limit=2)
    second = store.list(limit=2, after=first.after)

    assert [task.task_id for task in first.tasks] == ["new", "legacy-2"]
    assert first.after.create_time is None
    assert [task.task_id for task in second.tasks] == ["legacy"]
    assert second.after is None
    assert [
        task.task_id for task in store.list(limit=5, since=datetime(2000, 1, 1, tzinfo=timezone.utc)).tasks
    ] == ["new"]


def test_expire_finished_stamps_finished_tasks_for_the_ttl_index_and_a_rerun_clears_it(
    store, collection, make_task, now
):
    from asynctask.adapters.mongo import EXPIRE_FIELD, TTL_GRACE

    keep = timedelta(days=3650)  # mongomock honours TTL indexes too: an expiry still to come
    store.expire_finished(keep)
    task = make_task()
    store.insert(task)

    ttl = [index for index in collection.index_information().values() if index["key"] == [(EXPIRE_FIELD, 1)]]
    assert ttl and ttl[0]["expireAfterSeconds"] == 0
    stamped = collection.find_one({"task_id": task.task_id})[EXPIRE_FIELD].replace(tzinfo=timezone.utc)
    assert stamped == task.end_time + keep + TTL_GRACE
    assert EXPIRE_FIELD not in store.get(task.task_id).extra

    store.replace(task.resubmitted(now), task.version)
    assert EXPIRE_FIELD not in collection.find_one({"task_id": task.task_id})


def test_mongodb_itself_deletes_a_task_whose_expiry_passed(store, collection, make_task):
    store.expire_finished(timedelta(seconds=1))
    store.insert(make_task())  # ended in March 2026: long past its expiry

    assert store.get("task-1") is None


def test_without_expire_finished_no_expiry_is_written(store, collection, make_task):
    store.insert(make_task())

    assert "expire_time" not in collection.find_one({"task_id": "task-1"})


def test_an_extra_field_named_like_the_expiry_is_refused(store, make_task):
    from asynctask.core import UnencodableValueError

    with pytest.raises(UnencodableValueError, match="expire_time"):
        store.insert(make_task(extra={"expire_time": 1}))
