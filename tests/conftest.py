"""Fixtures for the whole suite. Keep this file generic: nothing protocol-, client- or
simulator-specific belongs here."""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

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
