"""Running the dashboard: :func:`serve` (blocking, uvicorn) and :class:`RunningServer` (in a
thread, for tests, benchmarks and the demo)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable

try:
    import uvicorn
    from starlette.applications import Starlette
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "the dashboard needs Starlette and uvicorn: pip install 'pycti-arbin[web]'"
    ) from exc

from ..shared import StartedOnEnter
from .app import WebSettings, create_app

__all__ = ["RunningServer", "WebSettings", "create_app", "serve"]


def _config(app: Starlette, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
    )


def serve(
    settings: WebSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8050,
    duration_s: float | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the dashboard until Ctrl-C / SIGTERM, or for ``duration_s`` seconds.
    ``on_ready(url)`` is called once the socket listens.

    Raises:
        OSError: if the address cannot be bound.
        FileNotFoundError, ValueError: as :func:`create_app`.
    """
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    server = uvicorn.Server(_config(app, host, bound))

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if on_ready is not None and server.started:
            shown = f"[{host}]" if ":" in host else host
            on_ready(f"http://{shown}:{bound}/")
        if duration_s is not None:
            deadline = time.monotonic() + duration_s
            while not task.done() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            server.should_exit = True
        await task

    try:
        asyncio.run(main())
    finally:
        sock.close()


class RunningServer(StartedOnEnter):
    """The dashboard served from a background thread on ``127.0.0.1`` and a free port::

        with RunningServer(WebSettings("sqlite:///lab.db")) as server:
            print(server.url)

    Raises:
        RuntimeError: from ``start()``/``__enter__`` if the server did not come up.
    """

    def __init__(self, settings: WebSettings, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.settings = settings
        self.host = host
        self.app = create_app(settings)
        self._sock = socket.socket(socket.AF_INET)
        self._sock.bind((host, port))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self._server = uvicorn.Server(_config(self.app, host, self.port))
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[self._sock])),
            name="pycti-web",
            daemon=True,
        )

    def start(self) -> RunningServer:
        self._thread.start()
        deadline = time.monotonic() + 10.0
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the dashboard server did not start")
            time.sleep(0.01)
        return self

    def wait_idle(self, timeout_s: float = 5.0) -> bool:
        """Wait until no request is being served; whether that happened within the time."""
        deadline = time.monotonic() + timeout_s
        while self._server.server_state.tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(10.0)
        self._sock.close()
