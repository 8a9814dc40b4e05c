"""``GET /metrics``: the counts after a known set of tasks, in Prometheus's text format."""

from __future__ import annotations

import sys
import time

import pytest
from flask import Flask

from asynctask import AsyncTask, InMemoryTaskRepository, StoreUnavailableError
from asynctask.http import metrics_blueprint, task_blueprint
from tests.http.envelopes import assert_error
from tests.service.apps import Counter

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from asynctask.adapters.prometheus import INSTALL_HINT, PrometheusMetrics  # noqa: E402

TOKEN = "metrics-scrape-token"


def scrape(client, **headers) -> dict:
    """``{(sample name, ((label, value), ...)): value}`` of one ``GET /metrics``."""
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.content_type.startswith("text/plain")
    return parse(answer.get_data(as_text=True))


def parse(text: str) -> dict:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, service: str = "Counter", **labels: str) -> float:
    return samples[(name, tuple(sorted({"service": service, **labels}.items())))]


@pytest.fixture
def build(tmp_path, executor, clock):
    """A service on a memory store, counting into a registry of its own."""
    services = []

    def make(cls=Counter, repository=None, **options):
        if "metrics" not in options:
            options["metrics"] = PrometheusMetrics(prometheus_client.CollectorRegistry())
        service = cls(
            logger_dir=str(tmp_path),
            repository=InMemoryTaskRepository() if repository is None else repository,
            executor=executor,
            clock=clock,
            **options,
        )
        services.append(service)
        return service

    yield make
    for service in services:
        service.shutdown()


def submit(client, **params):
    return client.post("/api", json={"data": params})


def test_the_counts_after_a_known_set_of_tasks_are_exact(build, executor):
    client = build().app("/api").test_client()
    for name, fail in (("a", False), ("b", True), ("c", True)):
        assert submit(client, name=name, fail=fail).status_code == 200
    assert submit(client, name="a").status_code == 200  # still queued: the same task
    executor.run_all()  # a succeeds, b and c fail
    assert submit(client, name="b").status_code == 200  # failed: run again, and it succeeds
    executor.run_all()

    samples = scrape(client)
    assert value(samples, "asynctask_submissions_total", outcome="created") == 3
    assert value(samples, "asynctask_submissions_total", outcome="deduplicated") == 1
    assert value(samples, "asynctask_submissions_total", outcome="rerun") == 1
    assert value(samples, "asynctask_tasks_finished_total", status="success") == 2
    assert value(samples, "asynctask_tasks_finished_total", status="failed") == 2
    assert value(samples, "asynctask_task_run_seconds_count") == 4
    assert value(samples, "asynctask_task_queue_seconds_count") == 4
    assert value(samples, "asynctask_tasks_in_flight", state="waiting") == 0
    assert value(samples, "asynctask_tasks_in_flight", state="running") == 0
    assert value(samples, "asynctask_store_errors_total") == 0


class Slow(Counter):
    """Runs ``seconds``, and scrapes its own metrics while it runs."""

    seen: list

    def main(self, name, fail=False, value=None, logger=None):
        self.seen.append(scrape(self.client))
        time.sleep(0.05)
        return name


def test_histograms_measure_the_wait_and_the_run(build, executor):
    service = build(Slow)
    service.client, service.seen = service.app("/api").test_client(), []
    submit(service.client, name="slow")
    time.sleep(0.05)  # it waits in the queue
    executor.run_all()

    samples = scrape(service.client)
    queued, ran = (value(samples, f"asynctask_task_{kind}_seconds_sum", "Slow") for kind in ("queue", "run"))
    assert 0.05 <= queued < 5 and 0.05 <= ran < 5
    assert value(samples, "asynctask_task_run_seconds_bucket", "Slow", le="0.05") == 0
    assert value(samples, "asynctask_task_run_seconds_bucket", "Slow", le="+Inf") == 1


def test_in_flight_goes_up_and_down_as_attempts_wait_run_and_end(build, executor):
    service = build(Slow)
    service.client, service.seen = service.app("/api").test_client(), []
    for name in ("x", "y", "z"):
        submit(service.client, name=name)
    waiting = scrape(service.client)
    executor.run_next()

    assert value(waiting, "asynctask_tasks_in_flight", "Slow", state="waiting") == 3
    assert value(waiting, "asynctask_tasks_in_flight", "Slow", state="running") == 0
    during = service.seen[0]  # scraped by x as it ran
    assert value(during, "asynctask_tasks_in_flight", "Slow", state="waiting") == 2
    assert value(during, "asynctask_tasks_in_flight", "Slow", state="running") == 1
    after = scrape(service.client)
    assert value(after, "asynctask_tasks_in_flight", "Slow", state="waiting") == 2
    assert value(after, "asynctask_tasks_in_flight", "Slow", state="running") == 0


def test_an_attempt_cancelled_before_it_starts_leaves_the_waiting_count(build, executor):
    client = build().app("/api").test_client()
    submit(client, name="never")
    assert client.post("/api/cancel", json={"task_id": "task-never"}).status_code == 200
    executor.run_all()

    samples = scrape(client)
    assert value(samples, "asynctask_tasks_in_flight", state="waiting") == 0
    assert value(samples, "asynctask_tasks_in_flight", state="running") == 0
    assert value(samples, "asynctask_tasks_finished_total", status="failed") == 1
    assert value(samples, "asynctask_task_run_seconds_count") == 0


class Flaky(InMemoryTaskRepository):
    """A memory store that fails every call while ``down``."""

    down = False

    def get(self, task_id):
        if self.down:
            raise StoreUnavailableError("the store blinked")
        return super().get(task_id)

    def replace(self, task, expected_version):
        if self.down:
            raise ConnectionError("connection reset")
        return super().replace(task, expected_version)


def test_store_faults_are_counted_whether_answered_or_retried(build, executor):
    store = Flaky()
    client = build(repository=store).app("/api").test_client()
    submit(client, name="kept")
    store.down = True
    assert_error(client.get("/api?task_id=task-kept"), 503)  # one read refused
    executor.run_all()  # the outcome's write is refused: kept for a retry

    assert value(scrape(client), "asynctask_store_errors_total") == 2
    store.down = False


class Odd(Counter):
    """Answers a set, which no JSON store holds."""

    def main(self, name, fail=False, value=None, logger=None):
        return {1, 2}


def test_a_result_the_store_cannot_hold_is_no_store_fault(build, executor):
    client = build(Odd).app("/api").test_client()
    submit(client, name="odd")
    executor.run_all()

    samples = scrape(client)
    assert value(samples, "asynctask_store_errors_total", "Odd") == 0
    assert value(samples, "asynctask_tasks_finished_total", "Odd", status="failed") == 1


def test_the_token_guards_the_metrics_when_one_is_set(build):
    client = build().app("/api", token=TOKEN).test_client()

    answer = client.get("/metrics")
    assert_error(answer, 401)
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(client.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401)
    assert value(scrape(client, Authorization=f"Bearer {TOKEN}"), "asynctask_store_errors_total") == 0


def test_without_prometheus_client_metrics_answer_404_saying_what_to_install(build, monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import prometheus_client fails
    client = build(metrics=True).app("/api").test_client()

    envelope = assert_error(client.get("/metrics"), 404)
    assert envelope["error_msg"] == INSTALL_HINT and 'pip install "asynctask[metrics]"' in INSTALL_HINT
    assert submit(client, name="still-served").status_code == 200


def test_a_service_built_without_metrics_says_so(build):
    client = build(metrics=False).app("/api").test_client()

    assert "metrics=False" in assert_error(client.get("/metrics"), 404)["error_msg"]


def test_blueprint_users_register_the_metrics_blueprint_on_their_app(build):
    service = build()
    app = Flask("mine")
    app.register_blueprint(task_blueprint(service, "/jobs"))
    app.register_blueprint(metrics_blueprint(service))
    client = app.test_client()
    client.post("/jobs", json={"data": {"name": "mine"}})

    assert value(scrape(client), "asynctask_submissions_total", outcome="created") == 1


def test_services_counting_into_the_default_registry_share_it_without_clashes(tmp_path, executor):
    class Other(AsyncTask):
        def main(self, logger=None):
            return 1

    first = Other(repository=InMemoryTaskRepository(), executor=executor, logger_dir=str(tmp_path))
    second = Other(repository=InMemoryTaskRepository(), executor=executor, logger_dir=str(tmp_path))
    try:
        client = first.app("/api").test_client()
        before = parse(client.get("/metrics").get_data(as_text=True))
        key = ("asynctask_submissions_total", (("outcome", "created"), ("service", "Other")))
        first.run()
        second.run()
        after = parse(client.get("/metrics").get_data(as_text=True))
        assert after[key] - before.get(key, 0) == 2
    finally:
        first.shutdown(wait=False)
        second.shutdown(wait=False)
