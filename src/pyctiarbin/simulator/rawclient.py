"""A minimal blocking CTI client over a plain socket, for simulator tests and benchmarks.

It is not the library's client (:mod:`pyctiarbin.client`): no reconnects, no error mapping.
It frames with ``FrameReader(role="client")`` and decodes with :func:`~pyctiarbin.protocol.decode`,
so every answer it returns has passed the protocol layer's checks.

    with RawClient("127.0.0.1", port) as client:
        client.login("admin", "admin")
        feedback = client.request(ChannelInfoRequest(channel_index=-1))
"""

from __future__ import annotations

import socket

from ..errors import CtiConnectionError
from ..protocol import FrameReader, LoginFeedback, LoginRequest, Message, decode, encode
from ..shared import ClosedOnExit

__all__ = ["RawClient"]


class RawClient(ClosedOnExit):
    """One TCP connection to a CTI server.

    Raises:
        OSError: from the constructor, if the connection cannot be made.
    """

    def __init__(self, host: str, port: int, *, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.framer = FrameReader(role="client")

    def send(self, message: Message | bytes) -> None:
        """Send one request (a message, or raw bytes as they are)."""
        self.sock.sendall(message if isinstance(message, bytes) else encode(message))

    def recv_frame(self) -> bytes:
        """The next whole frame, checksum verified.

        Raises:
            ProtocolError: for a malformed frame.
            CtiConnectionError: if the server closed the connection.
            TimeoutError: if nothing came within the timeout.
        """
        while True:
            frame = self.framer.next_frame()
            if frame is not None:
                return frame
            data = self.sock.recv(1 << 20)
            if not data:
                raise CtiConnectionError("the server closed the connection")
            self.framer.feed(data)

    def recv(self) -> Message:
        """The next message.

        Raises:
            ProtocolError: for a malformed frame.
            CtiConnectionError: if the server closed the connection.
            TimeoutError: if nothing came within the timeout.
        """
        return decode(self.recv_frame(), verify_checksum=False)

    def request(self, message: Message | bytes, replies: int = 1) -> Message:
        """Send ``message``, read ``replies`` answers, return the last one (see :meth:`recv`)."""
        self.send(message)
        answer = self.recv()
        for _ in range(replies - 1):
            answer = self.recv()
        return answer

    def request_all(self, message: Message | bytes, replies: int) -> list[Message]:
        """Send ``message`` and return its ``replies`` answers (see :meth:`recv`)."""
        self.send(message)
        return [self.recv() for _ in range(replies)]

    def result(self, message: Message | bytes) -> int:
        """Send ``message`` and return the ``result`` code of its (single) answer.

        Raises:
            CtiConnectionError: if the answer carries no result code, or the server closed
                the connection.
            ProtocolError: for a malformed frame.
            TimeoutError: if nothing came within the timeout.
        """
        answer = self.request(message)
        code = getattr(answer, "result", None)
        if not isinstance(code, int):
            raise CtiConnectionError(f"{type(answer).__name__} carries no result code")
        return code

    def login(self, username: str, password: str) -> LoginFeedback:
        """LOGIN; returns the feedback whatever its result (see :meth:`recv`)."""
        answer = self.request(LoginRequest(username=username, password=password))
        if not isinstance(answer, LoginFeedback):
            raise CtiConnectionError(f"expected a login feedback, got {type(answer).__name__}")
        return answer

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()
