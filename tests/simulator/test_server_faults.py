"""Fault injection, seen by a raw client: latency, dropped connections, corrupted checksums,
split writes, stray bytes, silence, and switching faults at run time."""

from __future__ import annotations

import socket
import time

import pytest

from pyctiarbin.errors import ChecksumError, CtiConnectionError
from pyctiarbin.protocol import (
    ChannelInfoFeedback,
    ChannelInfoRequest,
    LoginFeedback,
    LoginRequest,
    encode,
)
from pyctiarbin.simulator import Faults, Simulator
from pyctiarbin.simulator.faults import STRAY_BYTE
from pyctiarbin.simulator.rawclient import RawClient


def test_faults_are_off_by_default() -> None:
    assert not Faults().active
    assert Faults(silent=True).active
    with pytest.raises(ValueError):
        Faults(latency_s=-1)
    with pytest.raises(ValueError):
        Faults(split_writes=0)


def test_latency() -> None:
    with Simulator(channels=1, latency_s=0.2) as sim, RawClient(sim.host, sim.port) as client:
        started = time.monotonic()
        client.login("admin", "admin")
        assert time.monotonic() - started >= 0.19


def test_drop_after_frames() -> None:
    with Simulator(channels=1, drop_after_frames=2) as sim, RawClient(sim.host, sim.port) as c:
        assert c.login("admin", "admin").result == 1
        assert isinstance(c.request(ChannelInfoRequest()), ChannelInfoFeedback)
        with pytest.raises((CtiConnectionError, ConnectionError)):
            c.request(ChannelInfoRequest())
        # A new connection gets its own count.
        with RawClient(sim.host, sim.port) as again:
            assert again.login("admin", "admin").result == 1


def test_corrupt_checksum_every_n_frames() -> None:
    with Simulator(channels=2, corrupt_checksum_every=2) as sim, RawClient(sim.host, sim.port) as c:
        assert c.login("admin", "admin").result == 1
        c.send(ChannelInfoRequest())
        with pytest.raises(ChecksumError):
            c.recv()
        # The stream stays in sync: the next answer is whole and correct.
        answer = c.request(ChannelInfoRequest(channel_index=1))
        assert [r.channel_index for r in answer.channels] == [1]  # type: ignore[attr-defined]


def test_split_writes_arrive_in_pieces_and_reassemble() -> None:
    with Simulator(channels=1, split_writes=1000) as sim:
        sock = socket.create_connection((sim.host, sim.port), timeout=5)
        try:
            sock.sendall(encode(LoginRequest(username="admin", password="admin")))
            chunks = []
            received = 0
            while received < 8678:
                data = sock.recv(65536)
                assert data
                chunks.append(data)
                received += len(data)
            assert len(chunks) > 1
            from pyctiarbin.protocol import decode

            feedback = decode(b"".join(chunks))
            assert isinstance(feedback, LoginFeedback) and feedback.result == 1
        finally:
            sock.close()


def test_stray_bytes_after_each_frame() -> None:
    with Simulator(channels=2, stray_bytes=5) as sim, RawClient(sim.host, sim.port) as c:
        assert c.login("admin", "admin").result == 1
        answer = c.request(ChannelInfoRequest(channel_index=-1))
        assert len(answer.channels) == 2  # type: ignore[attr-defined]
        c.request(ChannelInfoRequest(channel_index=0))
        assert c.framer.skipped_bytes == 10  # the strays after the first two frames
        assert STRAY_BYTE not in b"\xdd\x11"


def test_silent_mode_never_answers() -> None:
    with Simulator(channels=1, silent=True) as sim, RawClient(sim.host, sim.port, timeout=0.4) as c:
        c.send(LoginRequest(username="admin", password="admin"))
        with pytest.raises(TimeoutError):
            c.recv()


def test_faults_switch_at_run_time_on_open_connections() -> None:
    with Simulator(channels=1) as sim, RawClient(sim.host, sim.port, timeout=0.4) as c:
        assert c.login("admin", "admin").result == 1
        sim.set_faults(silent=True)
        c.send(ChannelInfoRequest())
        with pytest.raises(TimeoutError):
            c.recv()
        sim.set_faults()
        answer = c.request(ChannelInfoRequest(channel_index=0))
        assert isinstance(answer, ChannelInfoFeedback)
