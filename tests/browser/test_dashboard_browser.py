"""The dashboard in a real browser on the real server: rows, counts, live log, cancel, rerun, no injection."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from tests.e2e.server import ROOT, Server

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips, or fails when the browser is required
    expect = None

SCRIPT = "<script>window.__pwned=1</script>"
IMAGE = "<img src=x onerror=window.__pwned=1>"
TOKEN = "browser-token-0123456789abcdef"
ROWS = "#tasks tbody tr"


def post(server: Server, params: dict, token: str | None = None) -> dict:
    """Submit ``params`` to the server; answer the task's detail."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"data": params}).encode()
    req = urllib.request.Request(f"{server.base}/api", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=10) as answer:
        return json.loads(answer.read())["data"]


def serve_board(folder, env: dict | None = None) -> Server:
    """``asynctask serve`` of the sample Board on a memory store, its logs in ``folder``."""
    args = ["serve", "tests.e2e.sample_app:Board", "--store", "memory://", "--log-dir", str(folder / "logs")]
    return Server(args, cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def board(tmp_path_factory, browser):
    """A server with four tasks: two succeeded, one failed, one running with progress until ``hold`` goes."""
    folder = tmp_path_factory.mktemp("board")
    hold = folder / "hold"
    hold.write_text("")
    server = serve_board(folder, env={"ASYNCTASK_TOKEN": ""})
    try:
        post(server, {"name": "resize-photos", "note": "thumbnails"})
        post(server, {"name": "send-invoice", "note": IMAGE, "fail": True})
        post(server, {"name": "inject", "note": SCRIPT})
        for task_id in ("resize-photos", "send-invoice", "inject"):
            server.wait_status(task_id)
        post(server, {"name": "train-model", "note": "epochs", "hold": str(hold)})
        yield server
    finally:
        hold.unlink(missing_ok=True)
        server.stop()


def row(page, task_id: str):
    return page.locator(f'{ROWS}[data-task-id="{task_id}"]')


def test_the_dashboard_shows_follows_cancels_and_reruns_tasks_and_runs_no_injected_markup(
    board, browser, artifacts
):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    page.goto(f"{board.base}/dashboard")  # redirected to /api/dashboard

    ids = page.locator(f"{ROWS} td:first-child")
    expect(ids).to_have_text(["train-model", "inject", "send-invoice", "resize-photos"])  # newest first
    expect(page.locator("#count-all")).to_have_text("4")
    expect(page.locator("#count-running")).to_have_text("1")
    expect(page.locator("#count-success")).to_have_text("2")
    expect(page.locator("#count-failed")).to_have_text("1")
    expect(row(page, "train-model").locator("td").nth(1)).to_have_text("running")
    expect(row(page, "train-model").locator(".note")).to_have_text(re.compile(r"^step \d+$"))
    expect(row(page, "send-invoice").locator("td").last).to_have_text(
        f"RuntimeError: send-invoice failed on purpose: {IMAGE}"
    )

    row(page, "inject").click()  # markup in params, result and log shows as text
    expect(page.locator("#detail-id")).to_have_text("inject")
    expect(page.locator("#detail-params")).to_contain_text(f'"note": "{SCRIPT}"')
    expect(page.locator("#detail-result")).to_contain_text(f'"note": "{SCRIPT}"')
    expect(page.locator("#detail-log")).to_contain_text(f"note: {SCRIPT}")
    expect(page.locator("#rerun")).to_be_hidden()

    row(page, "train-model").click()  # its log follows while it runs
    log = page.locator("#detail-log")
    expect(log).to_contain_text("step 1\n")
    seen = max(int(n) for n in re.findall(r"step (\d+)", log.text_content()))
    expect(log).to_contain_text(f"step {seen + 10}\n")
    page.evaluate(f"document.querySelector('{ROWS}[data-task-id=\"resize-photos\"]').kept = true")
    page.screenshot(path=str(artifacts / "dashboard.png"))

    page.locator("#cancel").click()
    expect(page.locator("#detail-status")).to_have_text("failed")
    expect(page.locator("#detail-error")).to_contain_text("TaskCancelledError")
    expect(row(page, "train-model").locator("td").nth(1)).to_have_text("failed")
    expect(page.locator("#count-failed")).to_have_text("2")
    expect(page.locator("#cancel")).to_be_hidden()
    expect(page.locator("#rerun")).to_be_visible()

    row(page, "send-invoice").click()
    page.locator("#rerun").click()  # runs again with its stored params, and fails again
    expect(row(page, "send-invoice").locator("td").nth(3)).to_have_text("2")
    expect(page.locator("#detail-error")).to_contain_text(f"failed on purpose: {IMAGE}")

    # Rounds of refresh changed rows in place: the same element, and no markup from a task ever ran.
    assert page.evaluate(f"document.querySelector('{ROWS}[data-task-id=\"resize-photos\"]').kept") is True
    assert page.evaluate("window.__pwned") is None
    expect(page.locator("main img, main script")).to_have_count(0)
    assert errors == []
    page.close()


def test_the_page_is_usable_on_a_phone(board, browser, artifacts):
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(f"{board.base}/api/dashboard")

    expect(page.locator(ROWS)).to_have_count(4)
    expect(page.locator("#tasks thead")).to_be_hidden()  # each row is a card with its labels
    row(page, "send-invoice").click()
    expect(page.locator("#detail")).to_be_in_viewport()  # below the list, scrolled to
    expect(page.locator("#detail-log")).to_contain_text("note:")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    table, detail = page.locator("#tasks").bounding_box(), page.locator("#detail").bounding_box()
    assert detail["y"] >= table["y"] + table["height"] and detail["width"] <= 390
    page.screenshot(path=str(artifacts / "dashboard-phone.png"), full_page=True)
    page.close()


def test_with_a_token_the_page_asks_for_it_once_and_never_puts_it_in_a_url(tmp_path, browser):
    server = serve_board(tmp_path, env={"ASYNCTASK_TOKEN": TOKEN})
    try:
        post(server, {"name": "guarded"}, token=TOKEN)
        context = browser.new_context()
        page = context.new_page()
        sent = []
        page.on("request", lambda request: sent.append((request.url, request.headers.get("authorization"))))
        page.goto(f"{server.base}/dashboard")

        expect(page.locator("#token-form")).to_be_visible()
        expect(page.locator(ROWS)).to_have_count(0)
        page.locator("#token-input").fill("not-the-token")
        page.locator("#token-form button").click()
        expect(page.locator("#token-message")).to_have_text("That token was refused.")
        page.locator("#token-input").fill(TOKEN)
        page.locator("#token-input").press("Enter")
        expect(page.locator("#token-form")).to_be_hidden()
        expect(page.locator(f"{ROWS} td:first-child")).to_have_text(["guarded"])

        page.reload()  # kept for the session: not asked again
        expect(page.locator(f"{ROWS} td:first-child")).to_have_text(["guarded"])
        expect(page.locator("#token-form")).to_be_hidden()
        assert page.evaluate("Object.values(sessionStorage)") == [TOKEN]
        context.close()
    finally:
        output = server.stop()
    assert sent and not [url for url, _ in sent if TOKEN in url]
    assert any(header == f"Bearer {TOKEN}" for url, header in sent if "/api/tasks" in url)
    assert TOKEN not in output
