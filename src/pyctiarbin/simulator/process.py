"""Run ``python -m pyctiarbin.simulator`` in a child process (tests, benchmarks, tools).

    with SimulatorProcess(["--channels", "64"]) as sim:
        RawClient(sim.host, sim.port) ...

Ports default to 0 (ephemeral); the bound ones are read from the program's start-up lines.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence

from ..shared import StartedOnEnter

__all__ = ["SimulatorProcess"]

_CONTROL = re.compile(r"control port: (\S+):(\d+)")
_FILES = re.compile(r"file port: (\S+):(\d+)")


class SimulatorProcess(StartedOnEnter):
    """A simulator in a child process, started by :meth:`start` (or ``with``).

    ``args`` are command-line options (``--port 0 --file-port 0`` are added unless given);
    ``env`` replaces the child's environment. ``output`` collects what the child printed.

    Raises:
        Nothing from the constructor.
    """

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        python: str = sys.executable,
        startup_timeout_s: float = 30.0,
    ) -> None:
        options = list(args)
        if "--port" not in options:
            options += ["--port", "0"]
        if "--file-port" not in options and "--no-file-port" not in options:
            options += ["--file-port", "0"]
        self.command = [python, "-m", "pyctiarbin.simulator", *options]
        self._env = dict(env) if env is not None else None
        self._timeout_s = startup_timeout_s
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self.output: list[str] = []
        self.host = ""
        self.port = 0
        self.file_port: int | None = None

    def start(self) -> SimulatorProcess:
        """Start the child and wait until it listens.

        Raises:
            RuntimeError: if it exits or does not report its ports within the timeout.
        """
        process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=self._env,
        )
        self._process = process
        ready = threading.Event()

        def read() -> None:
            assert process.stdout is not None  # set by PIPE
            for line in process.stdout:
                self.output.append(line.rstrip("\n"))
                control = _CONTROL.match(line)
                if control:
                    self.host, self.port = control.group(1), int(control.group(2))
                files = _FILES.match(line)
                if files:
                    self.file_port = int(files.group(2))
                if line.startswith("press Ctrl-C"):
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=read, name="simulator-output", daemon=True)
        self._reader.start()
        if not ready.wait(self._timeout_s) or not self.port:
            self.stop()
            raise RuntimeError("the simulator did not start:\n" + "\n".join(self.output[-20:]))
        return self

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs (None before :meth:`start` and after
        :meth:`stop`)."""
        return self._process.pid if self._process is not None else None

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """Stop the child (Ctrl-C, then kill if needed); its exit code."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            if os.name == "nt":
                process.terminate()
            else:
                process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout_s)
        deadline = time.monotonic() + timeout_s
        if self._reader is not None:
            self._reader.join(max(0.0, deadline - time.monotonic()))
        if process.stdout is not None:
            process.stdout.close()
        self._process = None
        return process.returncode
