"""Schemathesis against the real server: every request the OpenAPI document allows is accepted, all checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.server import ROOT, Server

SECONDS = 25
CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_schemathesis_finds_nothing_the_served_document_and_the_server_disagree_on(tmp_path):
    st = Path(sys.executable).with_name("st")  # installed with the test extra, beside this Python
    args = ["serve", "tests.http.apps:Typed", "--store", "memory://", "--log-dir", str(tmp_path / "logs")]
    server = Server(args, cwd=ROOT)
    try:
        document = f"{server.base}/api/openapi.json"
        fuzz = subprocess.run(
            [
                str(st),
                "--config-file",
                str(CONFIG),
                "run",
                document,
                "--checks",
                "all",
                "--max-time",
                str(SECONDS),
            ],
            capture_output=True,
            text=True,
            timeout=SECONDS + 60,
        )
    finally:
        server.stop()
    assert fuzz.returncode == 0, fuzz.stdout[-4000:] + fuzz.stderr[-2000:]
    assert " passed" in fuzz.stdout and "generated" in fuzz.stdout
