"""The README's quick start works when pasted."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def quickstart_code() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- quickstart -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README lost its quick start block"
    return match.group(1)


def test_the_quickstart_serves_word_counts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "quickstart"}
    exec(compile(quickstart_code(), "README quick start", "exec"), namespace)
    api, client = namespace["api"], namespace["app"].test_client()

    posted = client.post("/api", json={"data": {"text": "hello async world"}})
    task_id = posted.json["data"]["task_id"]
    assert posted.status_code == 200 and posted.json["status"] == "ok"
    api.shutdown(wait=True)  # drains the pool: the task has finished

    polled = client.get("/api", query_string={"task_id": task_id})
    assert polled.json["data"]["status"] == "success"
    assert polled.json["data"]["result"] == {"words": 3, "lang": "en"}
    assert "counting words" in (tmp_path / "logs" / f"{task_id}.log").read_text()
    assert client.post("/api", json={"data": {"text": "hello async world"}}).json["data"]["attempt"] == 1

    # The listing and log routes of "Listing, logs and retention".
    listed = client.get("/api/tasks?status=success&limit=2").json["data"]
    assert [task["task_id"] for task in listed["tasks"]] == [task_id] and listed["next_cursor"] is None
    log = client.get(f"/api/logs?task_id={task_id}").json["data"]
    assert log["text"].rstrip().endswith("counting words") and log["next_offset"] == len(log["text"].encode())
    refused = client.get("/api/tasks?limit=0").json
    assert refused["error_data"][0]["field"] == "limit"
