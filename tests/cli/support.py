"""Constants and helpers shared by the ``pycti`` tests (tests/plan and tests/web run the
command with them too).

The command runs in a subprocess (``python -m pyctiarbin.cli``), exactly as a user runs it. Its
environment is cleaned of any ``ARBIN_CTI_*`` / ``PYCTI_*`` variables of the developer's shell.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lab_servers
from pyctiarbin import CyclerClient
from pyctiarbin.simulator import Simulator

USER = "labtech"
# A password unlike anything the command prints, so that a leak would be found by search.
PASSWORD = "Pw-7f3Kq9-zz"
#: The environment variables that give the command USER and PASSWORD.
CREDENTIALS = {"ARBIN_CTI_USERNAME": USER, "ARBIN_CTI_PASSWORD": PASSWORD}
#: The same for the user of the lab servers' simulators (tests/lab_servers.py).
LAB_CREDENTIALS = {
    "ARBIN_CTI_USERNAME": lab_servers.USER,
    "ARBIN_CTI_PASSWORD": lab_servers.PASSWORD,
}

RunPycti = Callable[..., subprocess.CompletedProcess[str]]


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parent's environment without credentials or pycti settings, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ARBIN_CTI_", "PYCTI_")) and key not in ("COLUMNS", "LINES")
    }
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra or {})
    return env


def pycti_argv(*args: str) -> list[str]:
    """The command line of ``pycti ARGS``: the module form, with this Python."""
    return [sys.executable, "-m", "pyctiarbin.cli", *args]


def pycti(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    input: str = "",
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``pycti ARGS`` to its end in ``cwd``, in the cleaned environment plus ``env``;
    ``input`` is its stdin."""
    return subprocess.run(
        pycti_argv(*args),
        capture_output=True,
        text=True,
        encoding="utf-8",
        input=input,
        env=clean_environment(env),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


@contextlib.contextmanager
def running(
    argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """``argv`` started with stdout and stderr piped (text), in the cleaned environment plus
    ``env``; killed at the end of the block if it still runs."""
    process = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env=clean_environment(env),
        cwd=cwd,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def read_banner(process: subprocess.Popen[str], timeout_s: float = 20.0) -> list[str]:
    """Lines printed by ``pycti sim`` up to its 'press Ctrl-C' line."""
    assert process.stdout is not None
    banner: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        banner.append(line.rstrip("\n"))
        if line.startswith("press Ctrl-C"):
            return banner
    raise AssertionError(f"pycti sim did not start: {banner}")


@dataclass
class SimRun:
    """A ``pycti sim`` process: its banner, and what it printed after it once stopped."""

    banner: list[str]
    rest: str = ""

    def port(self, kind: str) -> int:
        """The ``"control"`` or ``"file"`` port the banner names."""
        found = re.search(rf"{kind} port: 127\.0\.0\.1:(\d+)", "\n".join(self.banner))
        assert found, self.banner
        return int(found.group(1))

    def client(self, **options: Any) -> CyclerClient:
        """A client of this simulator for USER (not connected yet)."""
        return CyclerClient(
            "127.0.0.1",
            self.port("control"),
            file_port=self.port("file"),
            username=USER,
            password=PASSWORD,
            **options,
        )


@contextlib.contextmanager
def pycti_sim(*args: str, cwd: Path) -> Iterator[SimRun]:
    """``pycti sim ARGS`` (USER may log in) running for the block, once its banner is printed.
    SIGTERM stops it at the end, and it must then exit with status 0."""
    with running(pycti_argv("sim", *args), cwd=cwd, env=CREDENTIALS) as process:
        sim = SimRun(read_banner(process))
        try:
            yield sim
        finally:
            process.send_signal(signal.SIGTERM)
            sim.rest, err = process.communicate(timeout=20)
    assert process.returncode == 0, err


def address(sim: Simulator) -> list[str]:
    """The options that point the command at ``sim``."""
    return ["--host", sim.host, "--port", str(sim.port), "--file-port", str(sim.file_port)]


def lines(text: str) -> list[str]:
    """The non-empty lines of ``text``."""
    return [line for line in text.splitlines() if line.strip()]
