"""Helpers for the interface tests: configuration dictionaries and a recording TCP relay."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from typing import Any

from pyctiarbin.protocol import FrameReader, decode
from pyctiarbin.protocol.messages import Message

USER = "seed-user"
PASSWORD = "seed-Pa55word"
CHANNELS = 8


def cycler_config(host: str, port: int, **extra: Any) -> dict[str, Any]:
    """A configuration dictionary as the seed's README writes it."""
    return {"ip_address": host, "port": port, "timeout_s": 3, "msg_buffer_size": 4096, **extra}


class RecordingRelay:
    """Forwards TCP between clients and the real simulator, keeping every byte clients send.

    It does not answer anything itself; it lets a test see the exact request frames.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.host, self.port = self._listener.getsockname()[:2]
        self._sent = bytearray()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="recording-relay")
        self._thread.start()

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, None)
        sockets: list[socket.socket] = []
        try:
            while not self._stopping.is_set():
                for key, _events in selector.select(0.02):
                    if key.data is None:
                        client, _ = self._listener.accept()
                        upstream = socket.create_connection(self._target)
                        for new in (client, upstream):
                            new.setblocking(True)
                            sockets.append(new)
                        selector.register(client, selectors.EVENT_READ, (upstream, True))
                        selector.register(upstream, selectors.EVENT_READ, (client, False))
                        continue
                    sock: socket.socket = key.fileobj  # type: ignore[assignment]
                    peer, from_client = key.data
                    try:
                        data = sock.recv(1 << 16)
                    except OSError:
                        data = b""
                    if not data:
                        for end in (sock, peer):
                            if end.fileno() != -1:
                                selector.unregister(end)
                                end.close()
                        continue
                    if from_client:
                        with self._lock:
                            self._sent += data
                    # A peer that is gone shows up as end-of-stream on its own socket next.
                    with contextlib.suppress(OSError):
                        peer.sendall(data)
        finally:
            selector.close()
            for sock in sockets:
                sock.close()
            self._listener.close()

    def requests(self) -> list[Message]:
        """Every request frame sent so far, decoded (checksums verified)."""
        return [decode(frame) for frame in self.request_frames()]

    def request_frames(self) -> list[bytes]:
        """Every request frame sent so far, as bytes."""
        reader = FrameReader("server")
        with self._lock:
            reader.feed(bytes(self._sent))
        frames = []
        while (frame := reader.next_frame()) is not None:
            frames.append(frame)
        assert reader.buffered == 0, "a partial request frame was recorded"
        return frames

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(5)
