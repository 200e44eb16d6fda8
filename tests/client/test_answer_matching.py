"""An answer is never taken for another request: the misbehaving-peer scenarios, on both clients.

Each test scripts a server (protocol layer, real TCP on 127.0.0.1) that misbehaves in one
precise way and checks what the clients return, what the server received, and how many
connections it took.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import struct
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pyctiarbin import (
    AsyncCyclerClient,
    ChannelNotRunning,
    CommandRejected,
    CtiConnectionError,
    CyclerClient,
    UnsupportedCommand,
)
from pyctiarbin.protocol import (
    CommandCode,
    checksum,
    encode,
)
from pyctiarbin.protocol import messages as m

from .conftest import Api
from .scripted_server import UNLISTED_CODE, HandlerServer, _frame

CHANNELS = 8


def login_answer() -> bytes:
    return encode(m.LoginFeedback(num_channels=CHANNELS, serial_number="MATCH"))


def read_answer(index: int, value: float) -> bytes:
    return encode(m.ChannelInfoFeedback((m.ChannelRecord(channel_index=index, test_time_s=value),)))


def corrupted(frame: bytes) -> bytes:
    bad = bytearray(frame)
    bad[30] ^= 0xFF
    return bytes(bad)


def run(
    kind: str, server: HandlerServer, body: Callable[[Api], Awaitable[None]], **opts: Any
) -> None:
    options: dict[str, Any] = {
        "username": "user",
        "password": "pa55",
        "file_port": server.file_port,
        "timeout": 5.0,
        "backoff_s": 0.0,
        **opts,
    }

    async def main() -> None:
        cls = AsyncCyclerClient if kind == "async" else CyclerClient
        api = Api(cls("127.0.0.1", server.port, **options))
        try:
            await body(api)
        finally:
            await api("close")

    asyncio.run(main())


class Reads:
    """A handler answering reads with unique values (value = 1000 * request number + index)."""

    def __init__(self) -> None:
        self.count = 0
        self.answers: list[tuple[int, bytes]] = []  # (connection, answer)

    def value(self, index: int) -> float:
        return float(self.count * 1000 + index)

    def __call__(self, request: Any, number: int, server: HandlerServer) -> bytes | None:
        if isinstance(request, m.LoginRequest):
            return login_answer()
        assert isinstance(request, m.ChannelInfoRequest)
        self.count += 1
        answer = read_answer(request.channel_index, self.value(request.channel_index))
        self.answers.append((number, answer))
        return self.extra(answer, number)

    def extra(self, answer: bytes, number: int) -> bytes:
        return answer


# -- one matching rule ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault", ["duplicate", "corrupt_then_real", "unknown_code_then_real", "late_previous"]
)
def test_every_read_gets_its_own_answer_after_a_stray_frame(kind: str, fault: str) -> None:
    class Faulty(Reads):
        def extra(self, answer: bytes, number: int) -> bytes:
            if self.count != 1 and fault != "late_previous":
                return answer
            if fault == "duplicate":
                return answer + answer
            if fault == "corrupt_then_real":
                return corrupted(answer) + answer
            if fault == "unknown_code_then_real":
                return _frame(UNLISTED_CODE, b"\x00" * 16) + answer
            # The previous request's answer on this connection arrives late, after this
            # request was written.
            if len(self.answers) > 1 and self.answers[-2][0] == number:
                return self.answers[-2][1] + answer
            return answer

    handler = Faulty()
    with HandlerServer(handler) as server:

        async def body(api: Api) -> None:
            for channel in (2, 3, 4, 5, 6):
                status = await api("read_channel", channel)
                assert status.channel == channel
                # The answer to the last request the server read, never an earlier one.
                assert status.test_time_s == handler.value(channel - 1)

        run(kind, server, body)
        assert server.connections >= 2  # the untrusted connection was replaced


def test_a_refused_stop_is_not_reported_as_the_earlier_stops_success(kind: str) -> None:
    stops = 0

    def handler(request: Any, number: int, server: HandlerServer) -> bytes | None:
        nonlocal stops
        if isinstance(request, m.LoginRequest):
            return login_answer()
        assert isinstance(request, m.StopRequest)
        stops += 1
        if stops == 1:  # success, duplicated
            return encode(m.StopFeedback(channel_index=0, result=0)) * 2
        return encode(m.StopFeedback(channel_index=0, result=0x12))  # channel not running

    with HandlerServer(handler) as server:

        async def body(api: Api) -> None:
            await api("stop", 1)
            with pytest.raises(ChannelNotRunning):
                await api("stop", 1)

        run(kind, server, body)
    assert stops == 2


def test_a_stray_feedback_during_a_control_command_makes_its_outcome_unknown(kind: str) -> None:
    def handler(request: Any, number: int, server: HandlerServer) -> bytes | None:
        if isinstance(request, m.LoginRequest):
            return login_answer()
        assert isinstance(request, m.StopRequest)
        # Another channel's feedback first: from here the stream cannot be trusted.
        other = encode(m.StopFeedback(channel_index=0, result=0))
        return other + encode(m.StopFeedback(channel_index=request.channel_index, result=0))

    with HandlerServer(handler) as server:

        async def body(api: Api) -> None:
            with pytest.raises(CtiConnectionError) as error:
                await api("stop", 2)
            assert error.value.outcome_unknown
            assert "outcome is unknown" in str(error.value)

        run(kind, server, body, retries=5)
        stops = [r for _, r in server.requests if isinstance(r, m.StopRequest)]
        assert len(stops) == 1  # never sent again


def test_a_frame_pushed_while_idle_is_never_the_next_answer(kind: str) -> None:
    handler = Reads()
    with HandlerServer(handler) as server:

        async def body(api: Api) -> None:
            await api("read_channel", 3)
            server.push(read_answer(2, -1.0))  # a channel-3 answer nobody asked for
            await asyncio.sleep(0.05)
            status = await api("read_channel", 3)
            assert status.test_time_s == handler.value(2) != -1.0

        run(kind, server, body)
        assert server.connections == 2


def test_an_idle_asyncio_connection_does_not_buffer_what_it_is_pushed() -> None:
    handler = Reads()
    flood = read_answer(1, -1.0) * 2400  # about 4 MiB of frames nobody asked for
    done = threading.Event()

    def push(server: HandlerServer) -> None:
        try:
            server.push(flood)
        except OSError:
            pass  # the client closed the poisoned connection
        finally:
            done.set()

    with HandlerServer(handler) as server:

        async def main() -> None:
            client = AsyncCyclerClient(
                "127.0.0.1", server.port, username="u", password="p", backoff_s=0.0
            )
            try:
                await client.read_channel(2)
                link = client._link
                protocol = link._protocol
                assert protocol is not None
                pusher = threading.Thread(target=push, args=(server,))
                pusher.start()
                for _ in range(200):
                    await asyncio.sleep(0.005)
                    if protocol.unclaimed_bytes:
                        break
                await asyncio.sleep(0.05)
                # Nothing decoded or kept, and reading stopped: at most one receive buffer
                # (preallocated, 256 KiB) was ever touched.
                assert protocol.unclaimed_bytes > 0
                assert not protocol.transport.is_reading()  # type: ignore[union-attr]
                assert not link._inbox and link._reader.buffered == 0
                status = await client.read_channel(2)
                assert status.test_time_s == handler.value(1)
            finally:
                await client.close()
            await asyncio.to_thread(done.wait, 5)
            pusher.join(5)

        asyncio.run(main())
    assert len(flood) > 4_000_000


def test_download_never_splices_another_transfers_chunks(kind: str) -> None:
    leftovers: dict[int, bytes] = {}

    def handler(request: Any, number: int, server: HandlerServer) -> bytes | None:
        if isinstance(request, m.LoginRequest):
            return login_answer()
        assert isinstance(request, m.DownloadFileRequest)
        chunks = [f"{request.path}:{i};".encode() * 4 for i in range(3)]
        frames = [
            encode(
                m.DownloadFileFeedback(
                    download_time=request.download_time,
                    package_count=3,
                    package_index=i,
                    md5=hashlib.md5(chunk).digest(),
                    data=chunk,
                )
            )
            for i, chunk in enumerate(chunks)
        ]
        # Before the answer: the chunks of the previous download on this connection.
        reply = leftovers.get(number, b"") + b"".join(frames)
        leftovers[number] = b"".join(frames)
        return reply

    with HandlerServer(handler) as server:

        async def body(api: Api) -> None:
            for name in ("Work/A.txt", "Work/B.txt", "Work/C.txt"):
                data = await api.files("download", name)
                assert data == b"".join(f"{name}:{i};".encode() * 4 for i in range(3))

        run(kind, server, body, retries=5)


# -- all-channels control commands --------------------------------------------------------


def all_channels_handler(answers: list[Callable[[Any], bytes]]) -> Any:
    """Answers each STOP with the next function of ``answers``; reads with channel 1."""

    def handler(request: Any, number: int, server: HandlerServer) -> bytes | None:
        if isinstance(request, m.LoginRequest):
            return login_answer()
        if isinstance(request, m.ChannelInfoRequest):
            return read_answer(request.channel_index, 1.0)
        assert isinstance(request, m.StopRequest) and request.stop_all
        return answers.pop(0)(request)

    return handler


def per_channel(result: int) -> Callable[[Any], bytes]:
    return lambda _r: b"".join(
        encode(m.StopFeedback(channel_index=i, result=result)) for i in range(CHANNELS)
    )


def per_request(result: int, echo: int = -1) -> Callable[[Any], bytes]:
    return lambda _r: encode(m.StopFeedback(channel_index=echo, result=result))


@pytest.mark.parametrize("style", ["per_channel", "per_request"])
def test_all_channels_stop_accepts_one_answer_per_channel_or_per_request(
    kind: str, style: str
) -> None:
    make = per_channel if style == "per_channel" else per_request
    handler = all_channels_handler([make(0), make(0x12)])
    with HandlerServer(handler) as server:

        async def body(api: Api) -> None:
            await api("stop", "all")
            with pytest.raises(CommandRejected) as refused:
                await api("stop", "all")
            assert not refused.value.outcome_unknown

        run(kind, server, body)
        assert server.connections == 1  # exactly the expected count: the connection is kept
        kinds = [type(r).__name__ for _, r in server.requests]
        # Each all-channels command is followed by a one-channel read, the barrier.
        assert kinds == ["LoginRequest", *(["StopRequest", "ChannelInfoRequest"] * 2)]


def test_a_late_extra_all_channels_feedback_is_not_taken_for_the_next_command(kind: str) -> None:
    def late_extra(_request: Any) -> bytes:
        return encode(m.StopFeedback(channel_index=-1, result=0))

    stops: list[Callable[[Any], bytes]] = [late_extra, per_request(0x12)]

    def handler(request: Any, number: int, server: HandlerServer) -> bytes | None:
        if isinstance(request, m.LoginRequest):
            return login_answer()
        if isinstance(request, m.ChannelInfoRequest):
            # The barrier's answer, then one more STOP feedback, late.
            return read_answer(request.channel_index, 1.0) + late_extra(request)
        assert isinstance(request, m.StopRequest)
        return stops.pop(0)(request)

    with HandlerServer(handler) as server:

        async def body(api: Api) -> None:
            await api("stop", "all")
            # The late success must not answer this stop, which the cycler refuses.
            with pytest.raises(CommandRejected):
                await api("stop", "all")

        run(kind, server, body)
        assert server.connections == 2


def test_an_unexpected_count_of_all_channels_feedbacks_makes_the_outcome_unknown(
    kind: str,
) -> None:
    def two_of_eight(_request: Any) -> bytes:
        return b"".join(encode(m.StopFeedback(channel_index=i, result=0)) for i in range(2))

    handler = all_channels_handler([two_of_eight])
    with HandlerServer(handler) as server:

        async def body(api: Api) -> None:
            with pytest.raises(CtiConnectionError) as error:
                await api("stop", "all")
            assert error.value.outcome_unknown

        run(kind, server, body, retries=5)
        assert sum(isinstance(r, m.StopRequest) for _, r in server.requests) == 1


# -- UNKNOWN_CODE_FEEDBACK ------------------------------------------------------------------


def test_an_unsupported_command_raises_and_the_connection_stays_usable(kind: str) -> None:
    def handler(request: Any, number: int, server: HandlerServer) -> bytes | None:
        if isinstance(request, m.LoginRequest):
            return login_answer()
        if isinstance(request, m.ChannelInfoRequest):
            return read_answer(request.channel_index, 7.0)
        return encode(m.UnknownCommandFeedback(int(type(request).CODE)))

    with HandlerServer(handler) as server:

        async def body(api: Api) -> None:
            with pytest.raises(UnsupportedCommand) as error:
                await api("send_message", "hello")
            assert error.value.command == "send_message"
            assert error.value.request_code == CommandCode.SEND_MESSAGE
            assert "SEND_MESSAGE" in str(error.value)
            assert not error.value.outcome_unknown
            assert (await api("read_channel", 4)).test_time_s == 7.0
            # One frame per channel: the other frames' fate is unknown; connection replaced.
            with pytest.raises(UnsupportedCommand) as several:
                await api("stop", [1, 2])
            assert several.value.outcome_unknown
            assert (await api("read_channel", 4)).test_time_s == 7.0

        run(kind, server, body)
        assert server.connections == 2
        assert sum(isinstance(r, m.SendMessageRequest) for _, r in server.requests) == 1


# -- a peer that zeroes the checksum --------------------------------------------------------


def zero_checksum_shape(frame: bytes) -> bytes:
    """pycti-arbin 0.0.13's shape: checksum field zeroed, the real checksum appended."""
    body = frame[:-2] + b"\x00\x00"
    return body + struct.pack("<H", checksum(body))


def test_zero_checksum_peer_needs_the_lenient_option(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(request: Any, number: int, server: HandlerServer) -> bytes | None:
        if isinstance(request, m.LoginRequest):
            return zero_checksum_shape(login_answer())
        assert isinstance(request, m.ChannelInfoRequest)
        return zero_checksum_shape(read_answer(request.channel_index, 5.0))

    with HandlerServer(handler) as server:

        async def strict(api: Api) -> None:
            with pytest.raises(CtiConnectionError, match="lenient_checksum=True"):
                await api("connect")

        run(kind, server, strict, retries=0)

        async def lenient(api: Api) -> None:
            for channel in (1, 2, 3):
                assert (await api("read_channel", channel)).test_time_s == 5.0

        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="pyctiarbin.client"):
            run(kind, server, lenient, lenient_checksum=True)
        warnings = [r for r in caplog.records if "zeroed checksum" in r.getMessage()]
        assert len(warnings) == 1  # once per connection


def test_lenient_checksum_must_be_a_bool() -> None:
    with pytest.raises(ValueError, match="lenient_checksum"):
        CyclerClient("127.0.0.1", 9031, username="u", password="p", lenient_checksum="yes")  # type: ignore[arg-type]
