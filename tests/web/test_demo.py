"""make demo: the simulated cycler is logged into SQLite and the dashboard serves it."""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from pathlib import Path

from cli.support import running

from .lab import http


def test_demo_logs_and_serves_the_dashboard(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    argv = [
        sys.executable, "-m", "pyctiarbin.demo", "--duration", "4", "--interval", "0.5",
        "--db", f"sqlite:///{db}", "--web-port", "0",
    ]  # fmt: skip
    with running(argv) as process:
        assert process.stdout is not None
        url = None
        for line in process.stdout:
            if line.startswith("dashboard: "):
                url = line.split()[1].rstrip("/")
                break
        assert url is not None, "the demo printed no dashboard URL"
        status, fleet = http(url + "/api/fleet")
        assert status == 200
        assert [c["name"] for c in fleet["cyclers"]] == ["demo"]
        status, page = http(url + "/")
        assert status == 200 and "/static/app.js" in page
        rest, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert rest.rstrip().endswith("simulator stopped; demo over")
    with closing(sqlite3.connect(db)) as database:
        channels = database.execute("SELECT COUNT(DISTINCT channel) FROM readings").fetchone()[0]
        tests = database.execute("SELECT COUNT(*) FROM tests").fetchone()[0]
    assert channels == 16
    assert tests == 12  # the twelve channels the demo started
