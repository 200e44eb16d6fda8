"""Fixtures shared by the alert, control, plan and CLI tests (a plugin of tests/conftest.py): a
simulator, and local HTTP and SMTP servers that record what the alert notifiers send them."""

from __future__ import annotations

import base64
import contextlib
import json
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pyctiarbin.simulator import Simulator

USER = "admin"
PASSWORD = "admin"


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0, what: str = "") -> None:
    """Poll ``predicate`` until true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what or predicate}")
        time.sleep(0.02)


@contextlib.contextmanager
def serving(server: socketserver.TCPServer, name: str) -> Iterator[int]:
    """Serve ``server`` (a threading one) in a thread named ``name`` while the block runs;
    yields its port."""
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=name)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class WebhookServer:
    """A local HTTP server that records JSON POST bodies; ``fail_first`` answers 500 to that
    many requests first (to exercise retries)."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    fail_first: int = 0
    status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        wait_until(lambda: len(self.received) >= count, timeout_s, f"{count} webhook posts")
        with self.lock:
            return list(self.received)


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    recorder = WebhookServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with recorder.lock:
                recorder.requests += 1
                failing = recorder.requests <= recorder.fail_first
                status = 500 if failing else recorder.status
                if status == 200:
                    recorder.received.append(json.loads(body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler), "test-webhook") as port:
        recorder.url = f"http://127.0.0.1:{port}/hook/SECRET-TOKEN"
        yield recorder


@dataclass
class SmtpServer:
    """A minimal SMTP server (EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT) recording messages."""

    port: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    password: str = "secret"


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    recorder = SmtpServer()

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")

        def handle(self) -> None:
            self.reply("220 test SMTP")
            mail: dict[str, Any] = {"to": []}
            while True:
                line = self.rfile.readline().decode().rstrip("\r\n")
                if not line:
                    return
                verb = line.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    self.reply("250-test")
                    self.reply("250 AUTH PLAIN")
                elif verb == "AUTH":
                    _, user, password = base64.b64decode(line.split()[2]).decode().split("\0")
                    recorder.logins.append((user, password))
                    ok = password == recorder.password
                    self.reply("235 ok" if ok else "535 authentication failed")
                elif verb == "MAIL":
                    mail["from"] = line.split(":", 1)[1].strip(" <>")
                    self.reply("250 ok")
                elif verb == "RCPT":
                    mail["to"].append(line.split(":", 1)[1].strip(" <>"))
                    self.reply("250 ok")
                elif verb == "DATA":
                    self.reply("354 go on")
                    lines = []
                    while (data := self.rfile.readline().decode()) != ".\r\n":
                        lines.append(data)
                    mail["data"] = "".join(lines)
                    recorder.messages.append(mail)
                    mail = {"to": []}
                    self.reply("250 queued")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("250 ok")

    with serving(socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler), "test-smtp") as port:
        recorder.port = port
        yield recorder


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """An 8-channel simulator at 60x speed in a background thread."""
    with Simulator(channels=8, speed=60.0) as sim:
        yield sim
