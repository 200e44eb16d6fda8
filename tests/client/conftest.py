"""Run one test body against both clients, over real TCP to the simulator.

A test body is ``async def body(api: Api) -> None``; :func:`run_both` runs it once with
:class:`CyclerClient` (each call in a worker thread, so the event loop is never blocked) and
once with :class:`AsyncCyclerClient`, chosen by the ``kind`` fixture.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from pyctiarbin import AsyncCyclerClient, CyclerClient
from pyctiarbin.simulator import Simulator

USER = "operator"
PASSWORD = "s3cret-Pa55"


class Api:
    """Calls a client method the same way whether the client is blocking or asyncio."""

    def __init__(self, client: CyclerClient | AsyncCyclerClient) -> None:
        self.client = client
        self.is_async = isinstance(client, AsyncCyclerClient)

    async def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.client, name)
        if self.is_async:
            return await method(*args, **kwargs)
        return await asyncio.to_thread(method, *args, **kwargs)

    async def files(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.client.files, name)
        if self.is_async:
            return await method(*args, **kwargs)
        return await asyncio.to_thread(method, *args, **kwargs)


Body = Callable[[Api], Awaitable[None]]


def make_client(kind: str, sim: Simulator, **kwargs: Any) -> CyclerClient | AsyncCyclerClient:
    options: dict[str, Any] = {
        "username": USER,
        "password": PASSWORD,
        "file_port": sim.file_port,
        "timeout": 5.0,
        "backoff_s": 0.05,
    }
    options.update(kwargs)
    cls = AsyncCyclerClient if kind == "async" else CyclerClient
    return cls(sim.host, sim.port, **options)


def run_both(kind: str, sim: Simulator, body: Body, **kwargs: Any) -> None:
    """Run ``body`` with a connected client of ``kind`` ("sync" or "async")."""

    async def main() -> None:
        client = make_client(kind, sim, **kwargs)
        api = Api(client)
        await api("connect")
        try:
            await body(api)
        finally:
            await api("close")

    asyncio.run(main())


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(channels=8, users={USER: PASSWORD}, speed=60.0) as simulator:
        yield simulator
