"""Ctrl-C for a documented command that runs until it is interrupted.

    python interrupt.py LIMIT_S COMMAND [ARG ...]

runs COMMAND with its output passed through, and sends it SIGINT once it has shown that it
runs: ``SETTLE_S`` after its first output, or after ``LIMIT_S`` if it prints nothing (its
output may go to a file). A user presses Ctrl-C on a running command, not on one still
starting up; waiting for output makes that so on a loaded machine, without waiting the
longest start-up time on every command. A command still running ``KILL_AFTER_S`` after
SIGINT is killed. Exits with the command's status (128 + N if signal N ended it).
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time

SETTLE_S = 1.5  # after the first output: enough for a logger's first readings
KILL_AFTER_S = 10.0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    limit_s = float(argv[1])
    child = subprocess.Popen(argv[2:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(child.stdout, selectors.EVENT_READ, sys.stdout.fileno())
    selector.register(child.stderr, selectors.EVENT_READ, sys.stderr.fileno())
    interrupt_at = time.monotonic() + limit_s
    kill_at: float | None = None
    while selector.get_map():
        now = time.monotonic()
        if kill_at is None and now >= interrupt_at:
            child.send_signal(signal.SIGINT)
            kill_at = now + KILL_AFTER_S
        elif kill_at is not None and now >= kill_at:
            child.kill()
            break
        wake_at = interrupt_at if kill_at is None else kill_at
        for key, _ in selector.select(max(0.0, wake_at - now)):
            data = os.read(key.fd, 65536)
            if not data:
                selector.unregister(key.fileobj)
                continue
            _write_all(key.data, data)
            if kill_at is None:
                interrupt_at = min(interrupt_at, time.monotonic() + SETTLE_S)
    status = child.wait()
    return 128 - status if status < 0 else status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
