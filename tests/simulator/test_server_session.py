"""Simulator sessions over real TCP: login, refusals before login, connect/kick-out,
read-only users, bad frames, crashing handlers, lifecycle (threaded and asyncio)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import pytest

from pyctiarbin.errors import CtiConnectionError
from pyctiarbin.protocol import (
    AssignScheduleFeedback,
    AssignScheduleRequest,
    ChannelInfoFeedback,
    ChannelInfoRequest,
    ConnectFeedback,
    ConnectRequest,
    GetSerialNumberFeedback,
    GetSerialNumberRequest,
    LoginResult,
    SetMetaVariableRequest,
    StartRequest,
    StopRequest,
    encode,
)
from pyctiarbin.protocol.framing import CHECKSUM, HEADER, TOKEN
from pyctiarbin.simulator import Simulator, SimulatorConfig
from pyctiarbin.simulator.rawclient import RawClient

USERS = {"alice": "wonder-Land1", "bob": "b0b"}


@pytest.fixture
def sim() -> Simulator:
    with Simulator(channels=4, users=USERS, read_only_users=frozenset({"bob"})) as simulator:
        yield simulator


def test_nothing_but_login_before_login(sim: Simulator) -> None:
    with RawClient(sim.host, sim.port) as client:
        info = client.request(ChannelInfoRequest(channel_index=-1))
        assert isinstance(info, ChannelInfoFeedback) and info.channels == ()
        refused = client.request(AssignScheduleRequest(channel_index=0, schedule="Rest.sdx"))
        assert isinstance(refused, AssignScheduleFeedback)
        assert refused.result == 0x11 and refused.channel_index == 0
        serial = client.request(GetSerialNumberRequest())
        assert isinstance(serial, GetSerialNumberFeedback) and serial.result == 0x10
        assert client.login("alice", "wonder-Land1").result == LoginResult.SUCCESS
        info = client.request(ChannelInfoRequest(channel_index=-1))
        assert isinstance(info, ChannelInfoFeedback) and len(info.channels) == 4


def test_login_feedback_fields(sim: Simulator) -> None:
    with RawClient(sim.host, sim.port) as client:
        feedback = client.login("alice", "wonder-Land1")
    assert feedback.result == LoginResult.SUCCESS
    assert feedback.num_channels == 4
    assert feedback.serial_number == f"SIM{sim.port:05d}" == sim.config.serial_number
    assert feedback.allow_control == 1
    assert feedback.ip_address == bytes([127, 0, 0, 1])
    assert feedback.nickname == sim.config.nickname


def test_wrong_password_and_unknown_user_fail(sim: Simulator) -> None:
    with RawClient(sim.host, sim.port) as client:
        assert client.login("alice", "wrong").result == LoginResult.FAILED
        assert client.login("mallory", "wonder-Land1").result == LoginResult.FAILED
        assert client.login("", "").result == LoginResult.FAILED
        still_out = client.request(StopRequest(channel_index=0))
        assert still_out.result == 0x11  # type: ignore[attr-defined]
        # The connection stays usable: a right password then logs in.
        assert client.login("alice", "wonder-Land1").result == LoginResult.SUCCESS


def test_second_login_on_a_session_is_already_logged_in(sim: Simulator) -> None:
    with RawClient(sim.host, sim.port) as client:
        assert client.login("alice", "wonder-Land1").result == LoginResult.SUCCESS
        again = client.login("alice", "wonder-Land1")
        assert again.result == LoginResult.ALREADY_LOGGED_IN
        assert again.num_channels == 4


def test_read_only_user_reads_but_cannot_control(sim: Simulator) -> None:
    with RawClient(sim.host, sim.port) as client:
        feedback = client.login("bob", "b0b")
        assert feedback.result == LoginResult.SUCCESS and feedback.allow_control == 0
        info = client.request(ChannelInfoRequest(channel_index=1))
        assert [r.channel_index for r in info.channels] == [1]  # type: ignore[attr-defined]
        assert client.result(AssignScheduleRequest(channel_index=0, schedule="Rest.sdx")) == 0x11
        answers = client.request_all(StartRequest(test_name="t", channel_indexes=(0, 1)), 2)
        assert [(a.channel_index, a.result) for a in answers] == [(0, 0x11), (1, 0x11)]  # type: ignore[attr-defined]
        assert client.result(SetMetaVariableRequest(channel_index=0)) == 0x10


def test_allow_control_false_makes_everyone_read_only() -> None:
    with (
        Simulator(channels=2, allow_control=False) as sim,
        RawClient(sim.host, sim.port) as client,
    ):
        assert client.login("admin", "admin").allow_control == 0
        assert client.result(StopRequest(channel_index=0)) == 0x11


def test_connect_is_served_before_login_and_kick_out_is_honoured() -> None:
    with Simulator(channels=2, max_sessions=1) as sim, contextlib.ExitStack() as clients:

        def connect(kick_out: int) -> tuple[RawClient, ConnectFeedback]:
            client = clients.enter_context(RawClient(sim.host, sim.port))
            answer = client.request(ConnectRequest(set_kick_out=kick_out))
            assert isinstance(answer, ConnectFeedback)
            return client, answer

        first, answer = connect(1)
        assert answer.connect_result == 0
        assert answer.set_kick_out == 1
        # Full: the first session agreed to be kicked out, so the second gets in.
        second, answer = connect(0)
        assert answer.connect_result == 0
        with pytest.raises((CtiConnectionError, ConnectionError)):
            first.request(ChannelInfoRequest())
        # Still full, and nobody else may be kicked: rejected and closed.
        third, answer = connect(0)
        assert answer.connect_result == 1
        with pytest.raises((CtiConnectionError, ConnectionError)):
            third.request(ChannelInfoRequest())
        assert second.login("admin", "admin").result == LoginResult.SUCCESS


def _raw_frame(code: int, body: bytes, *, request: bool = True) -> bytes:
    total = 20 + len(body) + 2
    head = HEADER.pack(TOKEN, total - 12 if request else total, code, 0)
    frame = head + body
    return frame + CHECKSUM.pack(sum(frame) & 0xFFFF)


def test_garbage_unknown_commands_and_bad_checksums_do_not_kill_the_session(
    sim: Simulator,
) -> None:
    with RawClient(sim.host, sim.port) as client:
        client.login("alice", "wonder-Land1")
        client.send(b"\x00garbage before a frame\xdd\xdd")
        client.send(_raw_frame(0xBB310007, b"\x00" * 16))  # documented code, no layout
        bad = bytearray(encode(ChannelInfoRequest(channel_index=0)))
        bad[-1] ^= 0xFF
        client.send(bytes(bad))
        # A known command whose body has the wrong size: answered with its failure code.
        answer = client.request(_raw_frame(int(AssignScheduleRequest.CODE), b"\x00" * 10))
        assert isinstance(answer, AssignScheduleFeedback) and answer.result == 0x01
        info = client.request(ChannelInfoRequest(channel_index=2))
        assert [r.channel_index for r in info.channels] == [2]  # type: ignore[attr-defined]


def test_a_crashing_handler_becomes_a_failure_reply(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(name: str) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(sim.cycler, "load_schedule", broken)
    with RawClient(sim.host, sim.port) as client:
        client.login("alice", "wonder-Land1")
        answer = client.request(AssignScheduleRequest(channel_index=1, schedule="Rest.sdx"))
        assert isinstance(answer, AssignScheduleFeedback)
        assert answer.result == 0x01 and answer.channel_index == 1
        monkeypatch.undo()
        answer = client.request(AssignScheduleRequest(channel_index=1, schedule="Rest.sdx"))
        assert answer.result == 0  # type: ignore[attr-defined]


def test_clients_can_disconnect_abruptly(sim: Simulator) -> None:
    for _ in range(5):
        sock = socket.create_connection((sim.host, sim.port))
        sock.sendall(encode(ChannelInfoRequest())[:30])
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
    with RawClient(sim.host, sim.port) as client:
        assert client.login("alice", "wonder-Land1").result == LoginResult.SUCCESS
    deadline = time.monotonic() + 2
    while sim.session_count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.session_count == 0


def test_restart_on_the_same_port() -> None:
    with Simulator(channels=2) as first:
        port = first.port
        client = RawClient(first.host, port)
        client.login("admin", "admin")
    client.close()
    with Simulator(channels=3, port=port) as second, RawClient(second.host, port) as again:
        assert again.login("admin", "admin").num_channels == 3


def test_stop_is_idempotent_and_a_simulator_starts_once() -> None:
    sim = Simulator(channels=1).start()
    root = sim.root
    assert (root / "Work" / "MV_Current.sdx").is_file()
    sim.stop()
    sim.stop()
    assert not root.exists()  # the temporary root is removed
    with pytest.raises(RuntimeError):
        sim.start()


def test_config_object_and_overrides() -> None:
    config = SimulatorConfig(channels=3, speed=10.0)
    sim = Simulator(config, channels=5, latency_s=0.25)
    assert sim.config.channels == 5 and sim.config.speed == 10.0
    assert sim.config.faults.latency_s == 0.25
    with pytest.raises(TypeError):
        Simulator(no_such_option=1)
    with pytest.raises(ValueError):
        Simulator(channels=0)
    with pytest.raises(RuntimeError):
        _ = sim.port


def test_asyncio_mode_runs_on_the_current_loop() -> None:
    async def main() -> None:
        async with Simulator(channels=2) as sim:
            reader, writer = await asyncio.open_connection(sim.host, sim.port)
            writer.write(encode(ChannelInfoRequest(channel_index=-1)))
            await writer.drain()
            head = await reader.readexactly(12)
            size = int.from_bytes(head[8:12], "little")
            await reader.readexactly(size - 12)
            assert size == 26  # not logged in: no records
            writer.close()
            await writer.wait_closed()

    asyncio.run(main())


def test_port_in_use_raises_oserror() -> None:
    with Simulator(channels=1) as sim, pytest.raises(OSError):
        Simulator(channels=1, port=sim.port).start()
