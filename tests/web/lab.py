"""A small lab for the dashboard tests: two simulators being logged (with an alert rule) into
an SQLite file, and the dashboard served over it, read-only or with control."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from pyctiarbin import CyclerClient
from pyctiarbin.alerts import parse_alert_config
from pyctiarbin.alerts.history import AlertHistory, RecordingAlertListener
from pyctiarbin.logger import CyclerSpec, Logger, open_sink
from pyctiarbin.simulator import Simulator
from pyctiarbin.web.auth import hash_password

USER = "admin"
PASSWORD = "admin"
WEB_USER = "alice"
WEB_PASSWORD = "correct horse battery"
ALERT_RULE = "cell too hot"
RULES = {
    "rules": [
        {
            "name": ALERT_RULE,
            "kind": "threshold",
            "field": "aux.temperature",
            "op": ">",
            "value": 45.0,
            "severity": "critical",
            # Stored by the history only: no notifier thread starts during a test.
            "notify": [],
        }
    ]
}


@dataclass
class Lab:
    """Two simulators (``bay1``: 4 channels, 1 and 2 running; ``bay2``: 3 idle channels)
    logged every 0.2 s into ``url``, with the alert rule :data:`ALERT_RULE`."""

    bay1: Simulator
    bay2: Simulator
    url: str
    directory: Path

    def config_file(self) -> Path:
        """A lab config naming both cyclers, their credentials and one dashboard user."""
        env = self.directory / "cti.env"
        env.write_text(f"ARBIN_CTI_USERNAME={USER}\nARBIN_CTI_PASSWORD={PASSWORD}\n")
        path = self.directory / "lab.toml"
        path.write_text(
            f'[credentials]\nenv_file = "{env.name}"\n\n'
            f'[cyclers.bay1]\nhost = "{self.bay1.host}"\nport = {self.bay1.port}\n\n'
            f'[cyclers.bay2]\nhost = "{self.bay2.host}"\nport = {self.bay2.port}\n\n'
            f'[web]\naudit_log = "audit.log"\n\n'
            f'[web.users.{WEB_USER}]\npassword = "{hash_password(WEB_PASSWORD)}"\n'
        )
        return path

    @property
    def audit_log(self) -> Path:
        return self.directory / "audit.log"


def _run_logger(logger: Logger) -> None:
    asyncio.run(logger.run())


@contextmanager
def running_lab(directory: Path) -> Iterator[Lab]:
    """Start the simulators, a test on bay1 channels 1-2, and the logger; stop all at the end."""
    with Simulator(channels=4, speed=30.0) as bay1, Simulator(channels=3) as bay2:
        with CyclerClient(bay1.host, bay1.port, username=USER, password=PASSWORD) as client:
            client.assign_schedule([1, 2], "Cycle_CCCV.sdx")
            client.start([1, 2], "web-test")
        url = f"sqlite:///{directory / 'lab.db'}"
        specs = [
            CyclerSpec("bay1", bay1.host, bay1.port, USER, PASSWORD),
            CyclerSpec("bay2", bay2.host, bay2.port, USER, PASSWORD),
        ]
        engine = parse_alert_config(RULES).engine()
        listener = RecordingAlertListener(engine, AlertHistory(url), specs)
        logger = Logger(specs, [open_sink(url), listener], interval_s=0.2)
        thread = threading.Thread(target=_run_logger, args=(logger,), name="test-logger")
        thread.start()
        try:
            lab = Lab(bay1, bay2, url, directory)
            wait_for(lambda: _logged_channels(url) == 7, "the logger stored all 7 channels")
            yield lab
        finally:
            deadline = time.monotonic() + 10
            while thread.is_alive() and time.monotonic() < deadline:
                logger.stop_threadsafe()
                thread.join(0.2)
            engine.close()


def _logged_channels(url: str) -> int:
    import sqlite3

    path = url.removeprefix("sqlite:///")
    if not Path(path).exists():
        return 0
    try:
        with closing(sqlite3.connect(path)) as db:
            return int(db.execute("SELECT COUNT(*) FROM latest_readings").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def wait_for(condition: Any, what: str, timeout_s: float = 15.0) -> Any:
    """Poll ``condition()`` until it is truthy (returned) or fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def http(
    url: str,
    *,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """(status, parsed JSON or text) of one request."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw, kind = response.status, response.read(), response.headers["content-type"]
    except urllib.error.HTTPError as exc:
        status, raw, kind = exc.code, exc.read(), exc.headers.get("content-type", "")
        exc.close()
    text = raw.decode()
    return status, json.loads(text) if "json" in (kind or "") else text


def log_in(url: str, user: str = WEB_USER, password: str = WEB_PASSWORD) -> tuple[str, str, str]:
    """Log in through ``POST /login``: (session cookie value, CSRF token, Set-Cookie header)."""
    request = urllib.request.Request(
        f"{url}/login",
        method="POST",
        headers={"Content-Type": "application/json"},
        data=json.dumps({"username": user, "password": password}).encode(),
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        header = response.headers["Set-Cookie"]
        csrf = json.loads(response.read())["csrf"]
    return SimpleCookie(header)["pycti_session"].value, csrf, header
