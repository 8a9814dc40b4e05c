"""What every HTTP answer must look like: an envelope of standard JSON, with no traceback."""

import json

ENVELOPE = {"status", "data", "error_data", "error_msg"}


def strict_json(answer) -> dict:
    """The answer's body parsed as standard JSON (``NaN`` or ``Infinity`` fail)."""

    def refuse(name):
        raise AssertionError(f"{name} in a JSON answer")

    return json.loads(answer.get_data(as_text=True), parse_constant=refuse)


def assert_error(answer, code: int) -> dict:
    """Check ``answer`` is an error envelope with ``code``, a message and details; return the body."""
    body = strict_json(answer)
    assert answer.status_code == code, body
    assert set(body) == ENVELOPE and body["status"] == "error" and body["data"] is None
    assert body["error_msg"] and isinstance(body["error_data"], list)
    assert answer.mimetype == "application/json"
    text = answer.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text
    return body


def assert_ok(answer, code: int = 200):
    """Check ``answer`` is a success envelope with ``code``; return its ``data``."""
    body = strict_json(answer)
    assert answer.status_code == code, body
    assert body == {"status": "ok", "data": body["data"], "error_data": [], "error_msg": ""}
    return body["data"]
