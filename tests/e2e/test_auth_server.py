"""``asynctask serve --token-file``: the real server asks for the token, and never logs it."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

from tests.e2e.server import ROOT, Server, request

TOKEN = "e2e-token-0123456789abcdef"


def _get(url: str, token: str | None = None) -> tuple[int, dict]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_serve_with_a_token_file_asks_for_it_and_never_logs_it(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_bytes(TOKEN.encode() + b"\r\n")  # a file saved on Windows: the token is what is inside
    args = ["demo", "--store", f"sqlite:///{tmp_path / 'demo.db'}", "--log-dir", str(tmp_path / "logs")]
    server = Server([*args, "--token-file", str(token_file)], cwd=tmp_path)
    try:
        assert request("GET", f"{server.base}/ping")[0] == 200
        code, answer = _get(f"{server.base}/api/tasks")
        assert code == 401 and answer["error_data"][0]["problem"] == "missing"
        assert _get(f"{server.base}/api/tasks", "nope")[0] == 401
        code, answer = _get(f"{server.base}/api/tasks", TOKEN)
        assert code == 200 and answer["data"] == {"tasks": [], "next_cursor": None}
        # The demo's "try it" lines send the token as they were given it, and work when pasted.
        tries = [line.strip() for line in server.output().splitlines() if line.strip().startswith("curl ")]
        sent = f"Bearer $(tr -d '[:space:]' < {token_file})"
        assert len(tries) == 2 and all(sent in line for line in tries)
        for line in tries:
            pasted = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=10)
            assert json.loads(pasted.stdout)["status"] == "ok", pasted.stdout
    finally:
        output = server.stop()
    assert TOKEN not in output
    assert "warning: no token" not in output


def test_serve_without_a_token_on_every_interface_warns(tmp_path):
    args = ["demo", "--store", f"sqlite:///{tmp_path / 'demo.db'}", "--log-dir", str(tmp_path / "logs")]
    server = Server([*args, "--host", "0.0.0.0"], cwd=tmp_path, env={"ASYNCTASK_TOKEN": ""})
    try:
        assert _get(f"{server.base}/api/tasks")[0] == 200
    finally:
        output = server.stop()
    assert "warning: no token, and --host 0.0.0.0 is not loopback" in output


def test_a_missing_or_empty_token_file_is_one_clear_line(tmp_path):
    (tmp_path / "empty").write_text("\n")
    for path, says in ((tmp_path / "absent", "cannot read --token-file"), (tmp_path / "empty", "is empty")):
        done = subprocess.run(
            [sys.executable, "-m", "asynctask", "demo", "--token-file", str(path), "--port", "1"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2 and says in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
