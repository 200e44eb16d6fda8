"""Fixtures for the whole suite. Keep this file generic: nothing protocol-, client- or
simulator-specific belongs here (the seed's venv is shared by several test folders)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import venv
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The simulator and the notifier servers of the alert, control, plan and CLI tests.
pytest_plugins = ["lab_servers"]

# How long a test's threads may take to finish after the test body returned.
_THREAD_GRACE_S = 2.0


@pytest.fixture(autouse=True)
def no_leaked_threads_or_tasks() -> Iterator[None]:
    """Fail a test that leaves a thread running or an asyncio task pending.

    Threads started by the test get a short grace period to finish (a server stopped in a
    ``finally`` may need a moment). Tasks are recorded as event loops create them; a task that
    is still pending when the test is over has leaked (``asyncio.run`` cancels what is left,
    so this catches loops that the test kept alive, in its own thread or another one).
    Fixtures of a wider scope (module, session) are set up before this one and never count.
    """
    threads_before = set(threading.enumerate())
    tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
    original_create_task = asyncio.BaseEventLoop.create_task

    def recording_create_task(self: asyncio.BaseEventLoop, *args: Any, **kwargs: Any) -> Any:
        task = original_create_task(self, *args, **kwargs)
        tasks.add(task)
        return task

    asyncio.BaseEventLoop.create_task = recording_create_task  # type: ignore[method-assign]
    try:
        yield
    finally:
        asyncio.BaseEventLoop.create_task = original_create_task  # type: ignore[method-assign]

    deadline = time.monotonic() + _THREAD_GRACE_S
    leaked_threads = []
    for thread in threading.enumerate():
        if thread in threads_before or thread is threading.current_thread():
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            leaked_threads.append(thread)
    pending = [task for task in tasks if not task.done()]
    problems = []
    if leaked_threads:
        problems.append("threads still running: " + ", ".join(t.name for t in leaked_threads))
    if pending:
        problems.append("asyncio tasks still pending: " + ", ".join(repr(t) for t in pending))
    if problems:
        pytest.fail("test leaked " + "; ".join(problems), pytrace=False)


SEED_SPEC = "pycti-arbin==0.0.13"
_OFFLINE = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name "
    r"resolution|Name or service not known|Network is unreachable|Could not fetch URL|"
    r"No matching distribution found|ConnectTimeout|Read timed out|Connection refused|"
    r"ProxyError|SSLError",
    re.IGNORECASE,
)


def _venv_python(directory: Path) -> Path:
    return directory / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ARBIN_CTI_") and k not in ("PYTHONPATH", "PYTHONHOME")
    }
    env["PYTHONNOUSERSITE"] = "1"
    return env


@pytest.fixture(scope="session")
def seed_python(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a venv holding the seed; built once and cached across sessions."""
    cache = getattr(request.config, "cache", None)
    base = cache.mkdir("pycti-seed-venv") if cache is not None else tmp_path_factory.mktemp("seed")
    directory = Path(base) / f"py{sys.version_info[0]}{sys.version_info[1]}"
    python = _venv_python(directory)
    marker = directory / ".installed"
    if marker.is_file() and marker.read_text().strip() == SEED_SPEC and python.exists():
        return python
    if directory.exists():
        shutil.rmtree(directory)
    venv.EnvBuilder(with_pip=True, clear=True).create(directory)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", SEED_SPEC],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=600,
        check=False,
    )
    if install.returncode != 0:
        output = install.stdout + install.stderr
        if _OFFLINE.search(output):
            pytest.skip(f"the package index cannot be reached to install {SEED_SPEC}")
        pytest.fail(f"installing {SEED_SPEC} failed:\n{output}")
    marker.write_text(SEED_SPEC + "\n")
    return python


@pytest.fixture
def seed_env() -> dict[str, str]:
    """An environment for running the seed: no CTI credentials, no path to this project."""
    return _clean_env()


def _with_each(request: pytest.FixtureRequest, use: Any, what: str) -> Iterator[str]:
    """Make the choice ``request.param`` with ``use`` for one test (skipped where it is not
    available), and restore the one before afterwards."""
    try:
        before = use(str(request.param))
    except ModuleNotFoundError as exc:
        pytest.skip(f"{what} {request.param!r} not available: {exc}")
    try:
        yield str(request.param)
    finally:
        use(before)


@pytest.fixture(params=["compiled", "numpy", "python"])
def checksum_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test with each way of computing the checksum (the compiled and the numpy
    accelerations, where installed, and pure Python)."""
    from pyctiarbin.protocol import framing

    yield from _with_each(request, framing.use_checksum_backend, "checksum backend")


@pytest.fixture(params=["compiled", "python"])
def record_builder(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test with each way of building channel records from columns (the compiled
    acceleration, where built, and pure Python)."""
    from pyctiarbin.protocol import messages

    yield from _with_each(request, messages.use_record_builder, "record builder")
