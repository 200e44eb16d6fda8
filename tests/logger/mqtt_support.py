"""Helpers of the MQTT tests: the broker to use, a subscriber that records what it receives,
and a Mosquitto of a test's own that it can stop and start again."""

from __future__ import annotations

import functools
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

MQTT_ENV = "PYCTI_TEST_MQTT_URL"
DEFAULT_BROKER = ("127.0.0.1", 1883)
MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def shared_broker() -> tuple[str, int]:
    """The lab broker of the tests: ``PYCTI_TEST_MQTT_URL`` (CI sets it: the tests must run),
    else Mosquitto on 127.0.0.1:1883 if it is up (else the test is skipped)."""
    url = os.environ.get(MQTT_ENV)
    if url:
        hostport = url.split("://", 1)[-1].split("/", 1)[0]
        host, _, port = hostport.rpartition(":")
        return host, int(port)
    if not _reachable(*DEFAULT_BROKER):
        pytest.skip(f"no MQTT broker on 127.0.0.1:1883 and {MQTT_ENV} is not set")
    return DEFAULT_BROKER


def unique_prefix() -> str:
    """A topic prefix no other test publishes under."""
    return f"pycti-test/{uuid.uuid4().hex[:12]}"


class Subscriber:
    """Records every message under ``prefix/#`` (QoS 1), in arrival order.

    ``session``: a persistent session with this client id (the broker keeps what arrives
    while the subscriber is away, across its own restart when it persists).
    """

    def __init__(
        self,
        host: str,
        port: int,
        prefix: str,
        *,
        session: str | None = None,
        ca_file: Path | None = None,
        login: tuple[str, str] | None = None,
    ) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.prefix = prefix
        self.messages: list[tuple[str, Any, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=session or f"pycti-test-sub-{uuid.uuid4().hex[:8]}",
            clean_session=session is None,
        )
        self.client.reconnect_delay_set(1, 2)
        if ca_file is not None:
            self.client.tls_set(ca_certs=str(ca_file))
        if login is not None:
            self.client.username_pw_set(*login)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port, 30)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            self.close()
            raise RuntimeError(f"could not subscribe to {prefix}/# on {host}:{port}")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        client.subscribe(f"{self.prefix}/#", qos=1)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        if not message.payload:
            return  # a retained message being cleared (see close)
        with self._lock:
            self.messages.append((message.topic, json.loads(message.payload), message.retain))

    def received(self, suffix: str = "") -> list[tuple[str, Any, bool]]:
        """The messages so far whose topic ends with ``suffix``."""
        with self._lock:
            return [m for m in self.messages if m[0].endswith(suffix)]

    def close(self) -> None:
        """Clear the retained messages seen (the shared broker keeps no litter), then leave."""
        retained = {
            topic for topic, _, _ in self.received() if topic.endswith(("/state", "/online"))
        }
        infos = [self.client.publish(topic, b"", qos=1, retain=True) for topic in retained]
        for info in infos:
            if self.client.is_connected():
                info.wait_for_publish(5)
        self.client.disconnect()
        self.client.loop_stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OwnMosquitto:
    """A Mosquitto on its own free port, started and stopped by the test (persistence on, so
    a persistent subscriber session survives a restart, as on a lab broker)."""

    def __init__(self, directory: Path, extra_config: str = "") -> None:
        binary = shutil.which("mosquitto") or next(
            (p for p in MOSQUITTO_PATHS if Path(p).exists()), None
        )
        if binary is None:
            pytest.skip("mosquitto is not installed (Debian package 'mosquitto')")
        self.binary = binary
        self.port = free_port()
        self.directory = directory
        self.config = directory / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            # Started as root, Mosquitto would switch to its own user, which may not write here.
            f"user {getpass.getuser()}",
            "persistence true",
            f"persistence_location {directory}/",
            "max_queued_messages 0",
            f"log_dest file {directory / 'mosquitto.log'}",
        ]
        if "allow_anonymous" not in extra_config:
            lines.append("allow_anonymous true")
        self.config.write_text("\n".join(lines) + "\n" + extra_config)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _reachable("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not start on port {self.port}")
            time.sleep(0.05)

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): its socket takes what we send, it acknowledges none."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        stat = Path(f"/proc/{self.process.pid}/stat")
        deadline = time.monotonic() + 10
        while stat.read_text().rsplit(")", 1)[1].split()[0] != "T":
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not stop on SIGSTOP")
            time.sleep(0.01)

    def kill(self) -> None:
        """Kill the broker (SIGKILL): it saves nothing, so it comes back without sessions."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: saves its persistence file, then exits
            self.process.wait(10)
        self.process = None


def make_tls_files(directory: Path) -> dict[str, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 (EC keys: quick to make)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    files = {name: directory / name for name in ("ca.key", "ca.crt", "server.key", "server.csr")}
    files["server.crt"] = directory / "server.crt"
    ext = directory / "san.ext"
    ext.write_text("subjectAltName = IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = functools.partial(subprocess.run, check=True, capture_output=True, timeout=60)
    run(
        [
            openssl,
            "req",
            "-x509",
            *ec,
            "-keyout",
            files["ca.key"],
            "-out",
            files["ca.crt"],
            "-days",
            "2",
            "-subj",
            "/CN=pycti test CA",
        ]
    )
    run(
        [
            openssl,
            "req",
            *ec,
            "-keyout",
            files["server.key"],
            "-out",
            files["server.csr"],
            "-subj",
            "/CN=127.0.0.1",
        ]
    )
    run(
        [
            openssl,
            "x509",
            "-req",
            "-in",
            files["server.csr"],
            "-CA",
            files["ca.crt"],
            "-CAkey",
            files["ca.key"],
            "-CAcreateserial",
            "-out",
            files["server.crt"],
            "-days",
            "2",
            "-extfile",
            ext,
        ]
    )
    return files


def make_password_file(directory: Path, user: str, password: str) -> Path:
    """A Mosquitto password file (hashed in place by mosquitto_passwd -U: the password never
    goes on a command line)."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd is not installed")
    path = directory / "passwd"
    path.write_text(f"{user}:{password}\n")
    subprocess.run([tool, "-U", str(path)], check=True, capture_output=True, timeout=30)
    return path
