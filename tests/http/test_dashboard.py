"""The dashboard: a page and two files from the package, open without the token, guarded by their headers."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from flask import Flask

from asynctask.http import register_error_handlers, task_blueprint
from asynctask.http.pages import asset_names
from tests.http.envelopes import assert_error
from tests.http.test_auth import TOKEN
from tests.service.apps import Counter

ASSETS = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}


def _endpoint_of(page_text: str) -> str:
    return re.search(r'<meta name="asynctask-endpoint" content="([^"]*)">', page_text).group(1)


def test_every_file_of_the_dashboard_ships_in_the_package():
    static = resources.files("asynctask.http").joinpath("static")
    for name in asset_names():
        assert static.joinpath(name).read_bytes(), name


def test_the_page_is_html_that_knows_its_endpoint_and_loads_only_its_own_files(client):
    answer = client.get("/api/dashboard")

    assert answer.status_code == 200 and answer.mimetype == "text/html"
    text = answer.get_data(as_text=True)
    assert _endpoint_of(text) == "/api"
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    sources = re.findall(r'(?:src|href)="([^"]*)"', text)
    assert sorted(sources) == ["/api/dashboard/dashboard.css", "/api/dashboard/dashboard.js"]
    assert "<script>" not in text and "<style" not in text and " style=" not in text  # nothing inline


def test_the_page_forbids_inline_scripts_and_sniffing(client):
    headers = client.get("/api/dashboard").headers

    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'" and policy["form-action"] == "'none'"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("name", "mimetype"), ASSETS.items())
def test_each_file_is_served_with_its_type_and_revalidated(client, name, mimetype):
    answer = client.get(f"/api/dashboard/{name}")

    assert answer.status_code == 200 and answer.mimetype == mimetype
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.get_data() == resources.files("asynctask.http").joinpath("static", name).read_bytes()
    again = client.get(f"/api/dashboard/{name}", headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304


def test_the_script_never_writes_html():
    script = resources.files("asynctask.http").joinpath("static", "dashboard.js").read_text("utf-8")

    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "localStorage"):
        assert sink not in script, sink


@pytest.mark.parametrize(
    "path",
    [
        "/api/dashboard/nope.js",
        "/api/dashboard/dashboard.html",  # the template is not a file the page loads
        "/api/dashboard/../routes.py",
        "/api/dashboard/..%2Froutes.py",
        "/api/dashboard/%2e%2e%2f%2e%2e%2fpages.py",
        "/api/dashboard/static/dashboard.js",
        "/api/dashboard/dashboard.js/",
    ],
)
def test_any_other_file_is_a_404_envelope(client, path):
    assert_error(client.get(path), 404)


def test_the_app_sends_slash_dashboard_to_the_endpoints_page(client):
    answer = client.get("/dashboard")

    assert answer.status_code == 302 and answer.headers["Location"] == "/api/dashboard"
    assert client.get("/dashboard", follow_redirects=True).status_code == 200


def test_at_the_root_endpoint_the_page_is_slash_dashboard(service):
    client = service.app("/").test_client()

    answer = client.get("/dashboard")
    assert answer.status_code == 200 and _endpoint_of(answer.get_data(as_text=True)) == "/"
    assert client.get("/dashboard/dashboard.js").mimetype == "text/javascript"


def test_two_blueprints_serve_a_page_each_that_points_at_its_own_routes(make):
    app = Flask("mine")
    app.register_blueprint(task_blueprint(make(Counter), "/jobs/count"))
    app.register_blueprint(task_blueprint(make(Counter), "/other"))
    register_error_handlers(app)
    client = app.test_client()

    for endpoint in ("/jobs/count", "/other"):
        text = client.get(f"{endpoint}/dashboard").get_data(as_text=True)
        assert _endpoint_of(text) == endpoint
        assert f'src="{endpoint}/dashboard/dashboard.js"' in text
        assert client.get(f"{endpoint}/dashboard/dashboard.css").status_code == 200
    assert_error(client.get("/dashboard"), 404)  # a blueprint adds no route outside its endpoint


def test_an_app_mounted_under_a_prefix_tells_the_page_its_full_endpoint(client):
    text = client.get("/api/dashboard", environ_overrides={"SCRIPT_NAME": "/tools"}).get_data(as_text=True)

    assert _endpoint_of(text) == "/tools/api"
    assert 'src="/tools/api/dashboard/dashboard.js"' in text


def test_the_title_and_endpoint_are_escaped_in_the_page(make):
    class Odd(Counter):
        pass

    Odd.__name__ = 'Odd<b>"x'
    client = make(Odd).app('/a"b&c').test_client()

    text = client.get("/a%22b&c/dashboard").get_data(as_text=True)
    assert "<b>" not in text and "Odd&lt;b&gt;&quot;x" in text
    assert _endpoint_of(text) == "/a&quot;b&amp;c"


def test_with_a_token_the_page_and_files_are_open_and_every_data_route_still_asks(service):
    client = service.app("/api", token=TOKEN).test_client()

    for path in ("/api/dashboard", "/api/dashboard/dashboard.js", "/api/dashboard/dashboard.css"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert TOKEN not in answer.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302
    assert_error(client.get("/api/tasks"), 401)
    assert_error(client.get("/api/logs?task_id=task-a"), 401)
    assert_error(client.get("/api?task_id=task-a"), 401)
    assert_error(client.post("/api/dashboard"), 405)  # open to GET only


def test_with_a_token_only_ping_and_the_dashboard_answer_without_it(service, tmp_path, monkeypatch):
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "notes.txt").write_text("private")
    monkeypatch.chdir(tmp_path)  # a static/ folder where the server runs is not served
    app = service.app("/api", token=TOKEN)
    client = app.test_client()

    answered = set()
    for rule in app.url_map.iter_rules():
        url = rule.rule.replace("<name>", "dashboard.js").replace("<path:filename>", "notes.txt")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if client.open(url, method=method).status_code != 401:
                answered.add((method, rule.rule))
    assert answered == {
        ("GET", "/ping"),
        ("GET", "/dashboard"),
        ("GET", "/api/dashboard"),
        ("GET", "/api/dashboard/<name>"),
    }
    assert client.get("/static/notes.txt").status_code == 404


def test_the_dashboard_is_not_in_the_openapi_document(client):
    document = client.get("/api/openapi.json").get_json()

    assert not [path for path in document["paths"] if "dashboard" in path]
