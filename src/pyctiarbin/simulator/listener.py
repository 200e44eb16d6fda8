"""The simulator's listening sockets and the life of each connection on them.

A :class:`Listener` binds the control port (and the file port when configured), reads each
connection's bytes through a ``FrameReader(role="server")`` and hands every whole frame to the
:class:`~.dispatch.Dispatcher`. It enforces what is about bytes and time rather than commands:
partial frames and unfinished uploads of every connection share one
:class:`~.budget.MemoryBudget`; a connection that must log in is closed when it has not done so
within ``login_timeout_s`` or holds more than ``PRE_LOGIN_MAX_BYTES`` of a frame before its
LOGIN; injected faults drop connections and shape the replies. A failure that no reply can
express is logged and that connection is closed; the listener itself keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
from dataclasses import replace

from ..errors import ChecksumError, ProtocolError
from ..protocol import FrameReader
from .budget import MemoryBudget
from .config import Faults, SimulatorConfig
from .connection import CONTROL_PORT, FILE_PORT, Connection
from .cycler import Cycler
from .dispatch import Dispatcher
from .faults import shape_frames
from .files import FileService
from .handlers import CommandHandlers

__all__ = ["PRE_LOGIN_MAX_BYTES", "Listener", "PortBindError"]

logger = logging.getLogger(__name__)

_READ_SIZE = 256 * 1024

#: Bytes a connection that must log in may hold, before its LOGIN, without a whole frame.
PRE_LOGIN_MAX_BYTES = 64 * 1024


class PortBindError(OSError):
    """A listening port of the simulator could not be bound (in use, not permitted, ...).

    ``role`` is ``"control"`` or ``"file"``; ``host`` and ``port`` are the ones asked for;
    ``errno`` and ``strerror`` are those of the underlying error.
    """

    def __init__(self, role: str, host: str, port: int, cause: OSError) -> None:
        # asyncio's message repeats the address; the system's own text says it all.
        why = os.strerror(cause.errno) if cause.errno else (cause.strerror or str(cause))
        super().__init__(cause.errno, why)
        self.role = role
        self.host = host
        self.port = port

    def __str__(self) -> str:
        return f"cannot listen on {self.role} port {self.host}:{self.port}: {self.strerror}"


class Listener:
    """The two listening sockets, their connections and the dispatcher that answers them."""

    def __init__(
        self, config: SimulatorConfig, cycler: Cycler, files: FileService, budget: MemoryBudget
    ) -> None:
        self.cycler = cycler
        self.files = files
        self.budget = budget
        self.connections: dict[int, Connection] = {}
        self.commands = CommandHandlers(config, cycler, files, self.connections)
        self.dispatcher = Dispatcher(self.commands)
        self._tasks: set[asyncio.Task[None]] = set()
        self._servers: list[asyncio.Server] = []
        self._next_number = 0
        self.port = 0
        self.file_port: int | None = None

    @property
    def config(self) -> SimulatorConfig:
        """The configuration served (its faults may be replaced while serving)."""
        return self.commands.config

    @config.setter
    def config(self, config: SimulatorConfig) -> None:
        self.commands.config = config

    # -- listening -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the control port (and the file port when configured) and start accepting.

        Raises:
            PortBindError: if a port cannot be bound (nothing stays bound then).
        """
        config = self.config
        try:
            control = await asyncio.start_server(
                lambda r, w: self._accept(r, w, CONTROL_PORT), config.host, config.port
            )
        except OSError as exc:
            raise PortBindError(CONTROL_PORT, config.host, config.port, exc) from exc
        self._servers.append(control)
        self.port = control.sockets[0].getsockname()[1]
        if config.serial_number is None:
            self.config = config = replace(config, serial_number=f"SIM{self.port:05d}")
        if config.file_port is not None:
            try:
                files = await asyncio.start_server(
                    lambda r, w: self._accept(r, w, FILE_PORT), config.host, config.file_port
                )
            except OSError as exc:
                control.close()
                await control.wait_closed()
                self._servers.clear()
                raise PortBindError(FILE_PORT, config.host, config.file_port, exc) from exc
            self._servers.append(files)
            self.file_port = files.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close both ports and every connection, and wait until their tasks have ended."""
        for server in self._servers:
            server.close()
        for connection in list(self.connections.values()):
            connection.writer.transport.abort()
        # Aborted transports end every connection task by themselves; cancel what lingers.
        tasks = list(self._tasks)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=2.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: str
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve(reader, writer, port)
        except asyncio.CancelledError:
            # Only stop() cancels a connection task; ending it quietly keeps asyncio's
            # connection callback (which calls task.exception()) from reporting an error.
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)

    # -- one connection ------------------------------------------------------------------------

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: str
    ) -> None:
        self._next_number += 1
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = writer.get_extra_info("peername")
        local = writer.get_extra_info("sockname")
        connection = Connection(
            number=self._next_number,
            port=port,
            peer=f"{peer[0]}:{peer[1]}" if peer else "?",
            local_ip=_ip_bytes(local[0] if local else ""),
            writer=writer,
            must_log_in=port == CONTROL_PORT or self.config.require_file_login,
        )
        self.connections[connection.number] = connection
        logger.info(
            "connection %d from %s on the %s port", connection.number, connection.peer, port
        )
        timeout_s = self.config.login_timeout_s
        if connection.must_log_in and timeout_s is not None:
            connection.login_timer = asyncio.get_running_loop().call_later(
                timeout_s, self._login_overdue, connection
            )
        framer = FrameReader(role="server")
        try:
            while True:
                data = await reader.read(_READ_SIZE)
                if not data:
                    break
                framer.feed(data)
                if not self._hold_partial(connection, framer.buffered):
                    break
                if not await self._serve_frames(connection, framer):
                    break
                if self._too_much_before_login(connection, framer.buffered):
                    break
        except (ConnectionError, OSError) as exc:
            logger.info("connection %d: %s", connection.number, exc)
        except Exception:  # a reply that could not be built even as a failure
            logger.exception("connection %d: closing after an internal error", connection.number)
        finally:
            self.connections.pop(connection.number, None)
            if connection.login_timer is not None:
                connection.login_timer.cancel()
            self.budget.release(connection.frame_bytes)
            connection.frame_bytes = 0
            self.files.discard_uploads(connection.uploads)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            logger.info("connection %d closed", connection.number)

    def _too_much_before_login(self, connection: Connection, partial: int) -> bool:
        """True (the connection is closed) when a connection that must log in and has not
        holds more than ``PRE_LOGIN_MAX_BYTES`` of a frame that is not whole yet."""
        if partial <= PRE_LOGIN_MAX_BYTES or connection.logged_in or not connection.must_log_in:
            return False
        logger.warning(
            "connection %d: %d bytes without a whole frame before a LOGIN; closing",
            connection.number,
            partial,
        )
        connection.writer.transport.abort()
        return True

    def _hold_partial(self, connection: Connection, held: int) -> bool:
        """Reserve (or release) the memory of the ``held`` bytes a connection's framer holds;
        False (the connection is closed) when they would take the budget above its limit."""
        more = held - connection.frame_bytes
        if more > 0 and not self.budget.try_reserve(more):
            logger.warning(
                "connection %d: a partial frame of %d bytes would take the memory held for "
                "partial frames and unfinished uploads above the budget of %d bytes; closing",
                connection.number,
                held,
                self.budget.limit_bytes,
            )
            connection.writer.transport.abort()
            return False
        if more < 0:
            self.budget.release(-more)
        connection.frame_bytes = held
        return True

    def _login_overdue(self, connection: Connection) -> None:
        connection.login_timer = None
        if connection.logged_in or connection.number not in self.connections:
            return
        logger.info(
            "connection %d: no LOGIN within %g s; closing",
            connection.number,
            self.config.login_timeout_s,
        )
        connection.writer.transport.abort()

    async def _serve_frames(self, connection: Connection, framer: FrameReader) -> bool:
        """Answer every whole frame buffered; False when the connection must close."""
        while True:
            try:
                frame = framer.next_frame()
            except ChecksumError as exc:
                logger.warning("connection %d: frame dropped: %s", connection.number, exc)
                continue
            except ProtocolError as exc:
                logger.warning("connection %d: %s", connection.number, exc)
                continue
            if frame is None:
                return True
            self._hold_partial(connection, framer.buffered)  # less than before: releases only
            faults = self.config.faults
            if connection.faults.should_drop(faults):
                logger.info("connection %d: dropped by fault injection", connection.number)
                connection.writer.transport.abort()
                return False
            replies = self.dispatcher.dispatch(connection, frame)
            if faults.silent or not replies:
                continue
            await self._send(connection, replies, faults)
            if connection.close_after_reply:
                return False

    async def _send(self, connection: Connection, frames: list[bytes], faults: Faults) -> None:
        plan = shape_frames(frames, faults, connection.faults)
        if plan.delay_s:
            await asyncio.sleep(plan.delay_s)
        writer = connection.writer
        for piece in plan.pieces:
            writer.write(piece)
            if plan.separate:
                await writer.drain()
                await asyncio.sleep(0.001)
        await writer.drain()


def _ip_bytes(host: str) -> bytes:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return b"\x00\x00\x00\x00"
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        return mapped.packed if mapped is not None else b"\x00\x00\x00\x00"
    return address.packed
