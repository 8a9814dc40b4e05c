"""Live status: ``GET {endpoint}?task_id=&wait=`` long-polls, ``GET {endpoint}/events`` streams changes."""

from __future__ import annotations

import json
import threading
import time

import pytest
from flask import has_request_context, request

from asynctask.service.runtime import runtime_of
from tests.http.envelopes import assert_error, assert_ok
from tests.service.apps import Counter


class CountingReads:
    """Counts the store reads of a service, to show that waiting is not a busy loop."""

    def __init__(self, service):
        self.repository = service.repository
        self.reads = 0
        self._get = self.repository.get

        def get(task_id):
            self.reads += 1
            return self._get(task_id)

        self.repository.get = get


def _submit(client, name="a"):
    return assert_ok(client.post("/api", json={"data": {"name": name}}))


def _in_thread(call):
    """Run ``call`` in a thread; the answer is in ``box[0]`` after ``join``."""
    box: list = []
    thread = threading.Thread(target=lambda: box.append(call()), daemon=True)
    thread.start()
    return thread, box


def _until_waiting(service, count=1, timeout=5.0):
    deadline = time.monotonic() + timeout
    while runtime_of(service).changes.waiters() < count:
        assert time.monotonic() < deadline, "the request never started waiting"
        time.sleep(0.005)


def _waiting(client, service, submitted, poll_every=None):
    """A request waiting in a thread for ``submitted`` to move past its version; ``(thread, box)``."""
    if poll_every is not None:
        runtime_of(service).changes.poll_every = poll_every
    url = f"/api?task_id={submitted['task_id']}&wait=30&version={submitted['version']}"
    thread, box = _in_thread(lambda: client.get(url))
    _until_waiting(service)
    return thread, box


def _events(text: str) -> list[dict]:
    """The events of a stream's text: each as ``{"id": ..., "data": ...}`` or ``{"comment": ...}``."""
    found = []
    for block in text.split("\n\n"):
        if not block:
            continue
        event: dict = {}
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            if field == "":
                event["comment"] = value
            else:
                event[field] = json.loads(value) if field == "data" else value
        found.append(event)
    return found


# -- long-poll -----------------------------------------------------------------


def test_a_finished_task_answers_at_once_whatever_the_wait(client, executor):
    task_id = _submit(client)["task_id"]
    executor.run_all()

    started = time.monotonic()
    data = assert_ok(client.get(f"/api?task_id={task_id}&wait=30"))

    assert data["status"] == "success" and time.monotonic() - started < 1


def test_a_version_other_than_the_stored_one_answers_at_once(client):
    submitted = _submit(client)

    data = assert_ok(client.get(f"/api?task_id={submitted['task_id']}&wait=30&version=0"))

    assert data["version"] == submitted["version"] and data["status"] == "running"


def test_a_write_made_here_wakes_the_waiter_at_once(client, service, executor):
    submitted = _submit(client)
    thread, box = _waiting(client, service, submitted)

    started = time.monotonic()
    executor.run_all()
    thread.join(5)

    data = assert_ok(box[0])
    assert data["status"] == "success" and data["version"] > submitted["version"]
    assert time.monotonic() - started < runtime_of(service).changes.poll_every  # not by the poll


def test_without_a_version_the_wait_is_for_the_next_change(client, service, executor):
    task_id = _submit(client)["task_id"]
    thread, box = _in_thread(lambda: client.get(f"/api?task_id={task_id}&wait=30"))
    _until_waiting(service)
    assert not box  # the task as stored now is not an answer

    executor.run_all()
    thread.join(5)

    assert assert_ok(box[0])["status"] == "success"


def test_a_write_by_another_process_is_seen_at_the_next_poll(client, service, clock):
    submitted = _submit(client)
    thread, box = _waiting(client, service, submitted, poll_every=0.05)

    stored = service.repository.get(submitted["task_id"])  # straight to the store: no one is told
    service.repository.replace(stored.updated({"stage": "elsewhere"}, clock()), stored.version)
    thread.join(5)

    assert assert_ok(box[0])["stage"] == "elsewhere"


def test_the_wait_ends_with_the_task_unchanged_when_time_is_over(client):
    submitted = _submit(client)

    started = time.monotonic()
    data = assert_ok(client.get(f"/api?task_id={submitted['task_id']}&wait=0.2"))

    assert 0.2 <= time.monotonic() - started < 2
    assert data["version"] == submitted["version"] and data["status"] == "running"


def test_waiting_reads_the_store_once_a_poll_not_in_a_loop(client, service):
    submitted = _submit(client)
    runtime_of(service).changes.poll_every = 0.1
    reads = CountingReads(service)

    assert_ok(client.get(f"/api?task_id={submitted['task_id']}&wait=0.5"))

    assert 5 <= reads.reads <= 8  # the first read, the one that sets the baseline, and one per poll


def test_a_task_that_passes_its_time_while_waited_on_answers_as_failed(client, service, clock):
    submitted = _submit(client)
    thread, box = _waiting(client, service, submitted, poll_every=0.02)

    clock.advance(hours=5)  # past the 4 h task_timeout
    thread.join(5)

    data = assert_ok(box[0])
    assert data["status"] == "failed" and "TimeoutError" in data["error"]


def test_a_task_deleted_while_waited_on_answers_404(client, service):
    runtime_of(service).changes.poll_every = 0.02
    task_id = _submit(client)["task_id"]
    thread, box = _in_thread(lambda: client.get(f"/api?task_id={task_id}&wait=30"))
    _until_waiting(service)

    service.repository.delete([task_id])
    thread.join(5)

    assert assert_error(box[0], 404)["error_data"][0]["task_id"] == task_id


def test_shutdown_answers_every_waiter_at_once(client, service):
    task_id = _submit(client)["task_id"]
    threads = [_in_thread(lambda: client.get(f"/api?task_id={task_id}&wait=60")) for _ in range(3)]
    _until_waiting(service, 3)

    started = time.monotonic()
    runtime_of(service).changes.stop()
    for thread, _ in threads:
        thread.join(5)

    assert time.monotonic() - started < 1
    assert [assert_ok(box[0])["status"] for _, box in threads] == ["running"] * 3
    assert runtime_of(service).changes.waiters() == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("wait=61", "wait"),
        ("wait=-1", "wait"),
        ("wait=soon", "wait"),
        ("wait=1e3", "wait"),
        ("wait=nan", "wait"),
        ("wait=0x10", "wait"),
        ("wait=1&wait=2", "wait"),
        ("wait=1&version=x", "version"),
        ("wait=1&version=-1", "version"),
        ("version=-1", "version"),
        ("version=99999999999999999999", "version"),
    ],
)
def test_a_bad_wait_or_version_is_a_400_naming_it(client, query, field):
    task_id = _submit(client)["task_id"]

    envelope = assert_error(client.get(f"/api?task_id={task_id}&{query}"), 400)

    assert envelope["error_data"][0]["field"] == field


@pytest.mark.parametrize("wait", ["0", "0.05", "5e-2", "0.0500000000001"])
def test_a_wait_is_any_json_number_in_range(client, wait):
    task_id = _submit(client)["task_id"]

    assert assert_ok(client.get(f"/api?task_id={task_id}&wait={wait}"))["status"] == "running"


def test_an_unknown_task_is_a_404_at_once(client):
    started = time.monotonic()
    assert_error(client.get("/api?task_id=nope&wait=30"), 404)
    assert time.monotonic() - started < 1


def test_wait_for_in_python_checks_its_arguments(service):
    task_id = service.run(name="a")
    with pytest.raises(ValueError, match="wait must be a number of seconds from 0 to 60"):
        service.wait_for(task_id, timeout=float("nan"))
    with pytest.raises(ValueError, match="version"):
        service.wait_for(task_id, version=True, timeout=1)
    assert service.wait_for(task_id, version=0, timeout=0)["task_id"] == task_id


# -- Server-Sent Events ----------------------------------------------------------


def test_a_stream_sends_each_change_once_and_ends_after_the_outcome(client, service, executor):
    submitted = _submit(client)
    answer = client.get(f"/api/events?task_id={submitted['task_id']}")
    chunks = iter(answer.response)
    assert answer.mimetype == "text/event-stream" and answer.headers["Cache-Control"] == "no-cache"
    assert next(chunks) == b"retry: 1000\n\n"
    first = next(chunks).decode()

    executor.run_all()
    rest = b"".join(chunks).decode()

    events = _events(first + rest)
    ids = [int(event["id"]) for event in events]
    assert ids == sorted(set(ids)) and ids[0] == submitted["version"]
    assert [event["data"]["version"] for event in events] == ids
    assert events[0]["data"]["status"] == "running" and events[-1]["data"]["status"] == "success"
    assert runtime_of(service).changes.waiters() == 0


def test_a_client_reconnecting_with_last_event_id_gets_no_duplicate(client, executor):
    submitted = _submit(client)
    answer = client.get(
        f"/api/events?task_id={submitted['task_id']}", headers={"Last-Event-ID": str(submitted["version"])}
    )
    chunks = iter(answer.response)
    next(chunks)  # retry:
    executor.run_all()

    events = _events(b"".join(chunks).decode())

    assert submitted["version"] not in [int(event["id"]) for event in events]
    assert events[-1]["data"]["status"] == "success"


def test_a_finished_task_streams_its_outcome_then_a_reconnect_gets_204(client, executor):
    task_id = _submit(client)["task_id"]
    executor.run_all()

    events = _events(client.get(f"/api/events?task_id={task_id}").get_data(as_text=True))
    last = events[-1]["id"]
    again = client.get(f"/api/events?task_id={task_id}", headers={"Last-Event-ID": last})

    assert [event["data"]["status"] for event in events if "data" in event] == ["success"]
    assert again.status_code == 204 and again.get_data() == b""


def test_a_quiet_stream_sends_a_keepalive_comment(client, service, executor):
    runtime_of(service).changes.keepalive_every = 0.05
    task_id = _submit(client)["task_id"]
    chunks = iter(client.get(f"/api/events?task_id={task_id}").response)
    next(chunks), next(chunks)  # retry:, the task as it is

    assert next(chunks) == b": keep-alive\n\n"
    executor.run_all()
    assert b'"status":"success"' in b"".join(chunks)


def test_a_stream_ends_when_the_service_stops(client, service):
    task_id = _submit(client)["task_id"]
    # The stream is read in one thread, as a server does (it runs in the request's context).
    thread, box = _in_thread(lambda: client.get(f"/api/events?task_id={task_id}").get_data(as_text=True))
    _until_waiting(service)

    runtime_of(service).changes.stop()
    thread.join(5)

    events = _events(box[0])
    assert [event["data"]["status"] for event in events if "data" in event] == ["running"]


class OwnRetrieve(Counter):
    """A user's ``retrieve`` as the original library's users wrote them: no version; it reads the request."""

    def retrieve(self, task_id):
        stored = self.repository.get(task_id)
        if stored is None:
            return None
        tenant = request.headers.get("X-Tenant", "none") if has_request_context() else "no request"
        return {"task_id": task_id, "status": stored.status.value, "result": stored.result, "tenant": tenant}


@pytest.fixture
def own(make):
    return make(OwnRetrieve)


def test_with_a_users_retrieve_a_stream_of_a_finished_task_sends_its_outcome_then_204(own, executor):
    client = own.app("/api").test_client()
    task_id = _submit(client)["task_id"]
    executor.run_all()

    events = _events(client.get(f"/api/events?task_id={task_id}").get_data(as_text=True))
    again = client.get(f"/api/events?task_id={task_id}", headers={"Last-Event-ID": events[-1]["id"]})

    assert [event["data"]["status"] for event in events if "data" in event] == ["success"]
    assert events[-1]["id"] == str(own.repository.get(task_id).version)  # the stored version
    assert again.status_code == 204


def test_with_a_users_retrieve_the_stream_runs_in_the_request_context(own, executor):
    client = own.app("/api").test_client()
    task_id = _submit(client)["task_id"]
    url, tenant = f"/api/events?task_id={task_id}", {"X-Tenant": "acme"}
    thread, box = _in_thread(lambda: client.get(url, headers=tenant).get_data(as_text=True))
    _until_waiting(own)
    executor.run_all()
    thread.join(5)

    events = [event for event in _events(box[0]) if "data" in event]
    assert [event["data"]["tenant"] for event in events] == ["acme"] * len(events)
    assert events[-1]["data"]["status"] == "success"


def test_a_stream_ends_when_a_users_retrieve_says_the_task_is_gone(own, executor, monkeypatch):
    client = own.app("/api").test_client()
    task_id = _submit(client)["task_id"]
    thread, box = _in_thread(lambda: client.get(f"/api/events?task_id={task_id}").get_data(as_text=True))
    _until_waiting(own)

    monkeypatch.setattr(own, "retrieve", lambda task_id: None)
    executor.run_all()
    thread.join(5)

    assert not thread.is_alive()
    assert [event["data"]["status"] for event in _events(box[0]) if "data" in event] == ["running"]
    assert "keep-alive" not in box[0]  # ended, not kept open with nothing to send


@pytest.mark.parametrize(
    ("query", "headers", "status", "field"),
    [
        ("", {}, 400, "task_id"),
        ("task_id=nope", {}, 404, "task_id"),
        ("task_id=task-a&wait=1", {}, 400, "wait"),
        ("task_id=task-a", {"Last-Event-ID": "seven"}, 400, "Last-Event-ID"),
    ],
)
def test_a_bad_stream_request_is_an_envelope_before_any_event(client, query, headers, status, field):
    _submit(client)

    envelope = assert_error(client.get(f"/api/events?{query}", headers=headers), status)

    assert envelope["error_data"][0]["field"] == field


def test_counts_answers_every_status(client, executor):
    assert_ok(client.post("/api", json={"data": {"name": "a", "fail": True}}))
    executor.run_next()
    _submit(client, "b")
    _submit(client, "c")

    assert assert_ok(client.get("/api/counts")) == {"running": 2, "success": 0, "failed": 1}
    assert assert_error(client.get("/api/counts?status=running"), 400)["error_data"][0]["field"] == "status"


class Hiding(Counter):
    """A user's ``retrieve`` that hides some tasks (another tenant's), fails on one, and names no status."""

    def retrieve(self, task_id):
        stored = self.repository.get(task_id)
        if stored is None or task_id == "task-hidden":
            return None
        if task_id == "task-broken":
            raise RuntimeError("retrieve is broken")
        return {"task_id": task_id, "state": stored.status.value, "answer": stored.result}


@pytest.fixture
def hiding(make):
    return make(Hiding)


def test_a_task_a_users_retrieve_hides_is_a_404_stream_too(hiding):
    client = hiding.app("/api").test_client()
    assert_ok(client.post("/api", json={"data": {"name": "hidden"}}))

    assert_error(client.get("/api?task_id=task-hidden"), 404)
    assert_error(client.get("/api/events?task_id=task-hidden"), 404)


def test_a_users_retrieve_that_fails_is_a_500_before_any_event(hiding):
    client = hiding.app("/api").test_client()
    hiding.run(name="broken")  # (a POST would answer its retrieve: a 500 already)

    answer = client.get("/api/events?task_id=task-broken")

    assert assert_error(answer, 500)["error_msg"] == "internal server error"


def test_a_users_retrieve_that_fails_mid_stream_ends_the_stream_and_is_logged(hiding, executor, caplog):
    client = hiding.app("/api").test_client()
    task_id = assert_ok(client.post("/api", json={"data": {"name": "a"}}))["task_id"]
    thread, box = _in_thread(lambda: client.get(f"/api/events?task_id={task_id}").get_data(as_text=True))
    _until_waiting(hiding)

    hiding.retrieve = lambda task_id: 1 / 0
    executor.run_all()
    thread.join(5)

    assert [event["data"]["state"] for event in _events(box[0]) if "data" in event] == ["running"]
    assert any("event stream" in record.getMessage() and record.exc_info for record in caplog.records)


def test_a_users_retrieve_without_a_status_still_gets_the_204_that_stops_an_eventsource(hiding, executor):
    client = hiding.app("/api").test_client()
    task_id = assert_ok(client.post("/api", json={"data": {"name": "a"}}))["task_id"]
    executor.run_all()

    last = _events(client.get(f"/api/events?task_id={task_id}").get_data(as_text=True))[-1]
    again = client.get(f"/api/events?task_id={task_id}", headers={"Last-Event-ID": last["id"]})

    assert last["data"]["state"] == "success" and last["data"]["status"] == "success"  # the stored one
    assert again.status_code == 204
