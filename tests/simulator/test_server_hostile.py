"""The simulator under hostile clients, over real TCP: one memory budget for partial frames and
unfinished uploads across every connection, connections closed when they never log in, NaN
time stamps and test names outside Latin-1 answered instead of crashing the connection."""

from __future__ import annotations

import hashlib
import math
import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab_servers import wait_until
from pyctiarbin import CyclerClient
from pyctiarbin.protocol import (
    AssignScheduleRequest,
    BrowseDirectoryFeedback,
    BrowseDirectoryRequest,
    DownloadFileFeedback,
    DownloadFileRequest,
    GetResumeDataFeedback,
    GetResumeDataRequest,
    GetSerialNumberFeedback,
    GetSerialNumberRequest,
    GetStartDataFeedback,
    GetStartDataRequest,
    StartRequest,
    UploadFileFeedback,
    UploadFileRequest,
    encode,
)
from pyctiarbin.protocol.framing import CHECKSUM, TOKEN_BYTES, checksum
from pyctiarbin.simulator import Simulator
from pyctiarbin.simulator.process import SimulatorProcess
from pyctiarbin.simulator.rawclient import RawClient
from pyctiarbin.simulator.server import PRE_LOGIN_MAX_BYTES

MIB = 1024 * 1024
CHANNEL_INFO = 0xEEAB0003


def whole_frame(size: int) -> bytes:
    """A request frame of ``size`` bytes (a CHANNEL_INFO code, a body of 0x01 bytes)."""
    body = TOKEN_BYTES + struct.pack("<III", size - 12, CHANNEL_INFO, 0) + b"\x01" * (size - 22)
    return body + CHECKSUM.pack(checksum(body))


def partial_frame(announced: int, sent: int) -> bytes:
    """The first ``sent`` bytes of a request frame whose header announces ``announced`` bytes."""
    return whole_frame(announced)[:sent]


def send_all(sock: socket.socket, data: bytes) -> bool:
    """Send ``data``; False if the server closed the connection meanwhile (expected)."""
    try:
        sock.sendall(data)
    except OSError:
        return False
    return True


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed ``sock`` (EOF or reset); waits up to the timeout."""
    try:
        return sock.recv(1) == b""
    except ConnectionError:
        return True


def with_f64(frame: bytes, offset: int, value: float) -> bytes:
    """``frame`` with the f64 at ``offset`` replaced (bit for bit) and its checksum redone."""
    data = bytearray(frame)
    struct.pack_into("<d", data, offset, value)
    CHECKSUM.pack_into(data, len(data) - 2, checksum(data, 0, len(data) - 2))
    return bytes(data)


def upload_chunk(path: str, index: int, count: int, data: bytes, stamp: float = 7.0) -> bytes:
    return encode(
        UploadFileRequest(
            path=path,
            package_count=count,
            package_index=index,
            upload_time=stamp,
            md5=hashlib.md5(data).digest(),
            data=data,
        )
    )


@pytest.fixture
def small_budget(tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(channels=2, root=tmp_path / "root", memory_budget_bytes=4 * MIB) as sim:
        yield sim


# -- one budget for partial frames ---------------------------------------------------------------


def test_partial_frames_of_many_connections_share_one_budget(small_budget: Simulator) -> None:
    sim = small_budget
    budget = sim.memory_budget
    held = MIB - 1000  # four of these fit in 4 MiB, a fifth does not
    kept: list[RawClient] = []
    closed = 0
    try:
        for _ in range(8):
            client = RawClient(sim.host, sim.port)
            client.login("admin", "admin")
            expected = budget.used_bytes + held

            def held_or_refused(expected: int = expected) -> bool:
                return budget.used_bytes == expected or sim.session_count == len(kept)

            if send_all(client.sock, partial_frame(2 * MIB, held)):
                wait_until(held_or_refused, 20.0, "the partial frame to be held or refused")
            if budget.used_bytes == expected:
                kept.append(client)
            else:
                assert closed_by_server(client.sock)
                client.close()
                closed += 1
            assert budget.used_bytes <= budget.limit_bytes
        assert len(kept) == 4 and closed == 4
        assert budget.used_bytes == 4 * held
        assert budget.peak_bytes <= budget.limit_bytes
        # Closed connections give their share back; then a whole 2 MiB frame fits again, is
        # answered, and gives its share back too.
        for client in kept[2:]:
            client.close()
        del kept[2:]
        wait_until(lambda: budget.used_bytes == 2 * held, 20.0, "closed connections to release")
        finished = kept[0]
        finished.sock.sendall(whole_frame(2 * MIB)[held:])
        answer = finished.recv_frame()
        assert answer[:8] == TOKEN_BYTES
        wait_until(lambda: budget.used_bytes == held, 20.0, "the finished frame to be released")
    finally:
        for client in kept:
            client.close()
    wait_until(lambda: budget.used_bytes == 0, 20.0, "every closed connection to release its share")


def test_a_large_partial_frame_before_login_closes_the_connection(
    small_budget: Simulator,
) -> None:
    sim = small_budget
    with RawClient(sim.host, sim.port) as client:
        send_all(client.sock, partial_frame(2 * MIB, PRE_LOGIN_MAX_BYTES + 4096))
        assert closed_by_server(client.sock)
    wait_until(lambda: sim.session_count == 0, 20.0, "the connection to be gone")
    assert sim.memory_budget.used_bytes == 0
    assert sim.memory_budget.peak_bytes <= PRE_LOGIN_MAX_BYTES + 256 * 1024


def test_many_whole_small_frames_before_login_are_answered_not_cut_off(
    small_budget: Simulator,
) -> None:
    sim = small_budget
    count = 1000  # 128 KiB of whole requests in one write: only a partial frame counts
    with RawClient(sim.host, sim.port) as client:
        client.send(encode(GetSerialNumberRequest()) * count)
        answers = [client.recv() for _ in range(count)]
        assert all(isinstance(a, GetSerialNumberFeedback) and a.result == 0x10 for a in answers)
        assert client.login("admin", "admin").result == 1
    assert count * len(encode(GetSerialNumberRequest())) > PRE_LOGIN_MAX_BYTES


# -- one budget for unfinished uploads -----------------------------------------------------------


def test_unfinished_uploads_share_the_budget_and_are_refused_with_result_2(
    small_budget: Simulator,
) -> None:
    sim = small_budget
    budget = sim.memory_budget
    assert sim.file_port is not None
    chunk = os.urandom(256 * 1024)
    results = []
    with RawClient(sim.host, sim.file_port) as files:  # no LOGIN: the file port does not need one
        for number in range(40):
            files.send(upload_chunk(f"Work/f{number}.txt", 0, 8, chunk))
            answer = files.recv()
            assert isinstance(answer, UploadFileFeedback)
            results.append(answer.result)
            assert budget.used_bytes <= budget.limit_bytes
        # Refused chunks never end the connection.
        browse = files.request(BrowseDirectoryRequest(path="Work"))
        assert isinstance(browse, BrowseDirectoryFeedback) and browse.result == 2
    accepted = results.count(1)
    assert 0 < accepted < 16  # 16 chunks of 256 KiB would be the whole 4 MiB
    assert results == [1] * accepted + [2] * (40 - accepted)
    assert budget.refusals >= 40 - accepted
    wait_until(
        lambda: budget.used_bytes == 0, 20.0, "the closed connection's uploads to be released"
    )
    # Released: another client uploads a file of several chunks.
    data = os.urandom(3 * 256 * 1024)
    with RawClient(sim.host, sim.file_port) as files:
        for index in range(3):
            piece = data[index * 256 * 1024 : (index + 1) * 256 * 1024]
            assert files.result(upload_chunk("Work/after.txt", index, 3, piece)) == 1
    assert (sim.work_dir / "after.txt").read_bytes() == data
    assert budget.used_bytes == 0


# -- login timeout -------------------------------------------------------------------------------


def test_a_connection_that_never_logs_in_is_closed() -> None:
    with Simulator(channels=1, login_timeout_s=0.2, require_file_login=True) as sim:
        assert sim.file_port is not None
        for port in (sim.port, sim.file_port):
            with socket.create_connection((sim.host, port), timeout=10) as sock:
                assert closed_by_server(sock)
        wait_until(lambda: sim.session_count == 0, 20.0, "the connections to be gone")


def test_a_connection_that_logged_in_or_needs_no_login_stays_open() -> None:
    with Simulator(channels=1, login_timeout_s=0.2) as sim:
        assert sim.file_port is not None
        with RawClient(sim.host, sim.port) as control, RawClient(sim.host, sim.file_port) as files:
            control.login("admin", "admin")
            time.sleep(0.5)  # past the timeout
            assert sim.session_count == 2
            browse = files.request(BrowseDirectoryRequest(path="Work"))
            assert isinstance(browse, BrowseDirectoryFeedback) and browse.result == 2
            answer = control.request(GetStartDataRequest((0,)))
            assert isinstance(answer, GetStartDataFeedback)
            assert answer.records[0].channel_code == 0


def test_login_timeout_can_be_switched_off() -> None:
    with (
        Simulator(channels=1, login_timeout_s=None) as sim,
        socket.create_connection((sim.host, sim.port), timeout=0.5) as sock,
    ):
        with pytest.raises(TimeoutError):
            sock.recv(1)
        assert sim.session_count == 1


# -- NaN time stamps -----------------------------------------------------------------------------


def test_an_upload_with_a_nan_time_stamp_is_answered_with_result_2(sim_files: Simulator) -> None:
    sim = sim_files
    assert sim.file_port is not None
    nan = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_DEAD_BEEF))[0]
    frame = with_f64(upload_chunk("Work/nan.txt", 0, 1, b"abc"), 2084, nan)
    with RawClient(sim.host, sim.file_port) as files:
        files.send(frame)
        answer = files.recv()
        assert isinstance(answer, UploadFileFeedback)
        assert answer.result == 2 and answer.package_count == 1 and answer.package_index == 0
        # The time is echoed bit for bit.
        assert struct.pack("<d", answer.upload_time) == struct.pack("<d", nan)
        # The connection carries on.
        assert files.result(upload_chunk("Work/nan.txt", 0, 1, b"abc")) == 1
    assert (sim.work_dir / "nan.txt").read_bytes() == b"abc"


@pytest.mark.parametrize("stamp", [math.nan, math.inf, -math.inf])
def test_a_download_with_a_non_finite_time_stamp_is_answered_with_result_2(
    sim_files: Simulator, stamp: float
) -> None:
    sim = sim_files
    assert sim.file_port is not None
    # DOWNLOAD: f64 request time at 2068 (reference).
    frame = with_f64(
        encode(DownloadFileRequest(path="Work/Rest.sdx", download_time=1.0)), 2068, stamp
    )
    with RawClient(sim.host, sim.file_port) as files:
        files.send(frame)
        answer = files.recv()
        assert isinstance(answer, DownloadFileFeedback) and answer.result == 2
        assert struct.pack("<d", answer.download_time) == struct.pack("<d", stamp)
        browse = files.request(BrowseDirectoryRequest(path="Work"))
        assert isinstance(browse, BrowseDirectoryFeedback) and browse.result == 2


@pytest.fixture
def sim_files(tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(channels=2, root=tmp_path / "root") as sim:
        yield sim


# -- GET_START_DATA with test names outside Latin-1 ----------------------------------------------


def test_start_data_carries_names_outside_latin_1_as_a_windows_server_does(
    sim_files: Simulator,
) -> None:
    sim = sim_files
    name = "\u7535\u6c60-\u03b1-01 caf\u00e9"  # CJK "battery", Greek alpha, e acute
    with RawClient(sim.host, sim.port) as control:
        control.login("admin", "admin")
        assert control.result(AssignScheduleRequest(channel_index=0, schedule="Rest.sdx")) == 0
        assert control.result(StartRequest(test_name=name, channel_indexes=(0,))) == 0
        answer = control.request(GetStartDataRequest((0, 1)))
        assert isinstance(answer, GetStartDataFeedback)
        assert [r.channel_index for r in answer.records] == [0, 1]
        assert answer.records[0].channel_code == 0
        assert answer.records[0].test_names == ("??-?-01 caf\u00e9",)
        resume = control.request(GetResumeDataRequest((0,)))
        assert isinstance(resume, GetResumeDataFeedback)
        assert resume.records[0].test_name == name  # a UTF-16 field: carried whole
    with CyclerClient(sim.host, sim.port, username="admin", password="admin") as client:
        records = client.get_start_data([1, 2])
        assert [r.channel_index for r in records] == [0, 1]
        assert records[0].test_names == ("??-?-01 caf\u00e9",)


def test_start_data_refused_before_login_names_every_channel_with_code_34(
    sim_files: Simulator,
) -> None:
    with RawClient(sim_files.host, sim_files.port) as control:
        answer = control.request(GetStartDataRequest((0, 1)))
        assert isinstance(answer, GetStartDataFeedback)
        assert [(r.channel_index, r.channel_code) for r in answer.records] == [(0, 34), (1, 34)]
        resume = control.request(GetResumeDataRequest((1,)))
        assert isinstance(resume, GetResumeDataFeedback)
        assert [(r.channel_index, r.channel_code) for r in resume.records] == [(1, 36)]


# -- the same attacks against a `pycti sim` process, measured by its resident memory -------------


def _peak_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_a_simulator_process_stays_within_its_budget_under_partial_frames(tmp_path: Path) -> None:
    # 24 connections on the file port (no LOGIN needed there) each send 7 MiB of an 8 MiB frame:
    # 168 MiB without a budget. A sendall() that returns has put all but the socket buffers
    # (a few MiB) into the simulator, so without a budget it would have grown by >100 MiB.
    with SimulatorProcess(
        ["--memory-budget", "16", "--root", str(tmp_path / "root"), "--channels", "2"]
    ) as sim:
        assert sim.pid is not None and sim.file_port is not None
        baseline = _peak_rss_bytes(sim.pid)
        socks = []
        try:
            for _ in range(24):
                sock = socket.create_connection((sim.host, sim.file_port), timeout=10)
                socks.append(sock)
                send_all(sock, partial_frame(8 * MIB, 7 * MIB))
            grown = _peak_rss_bytes(sim.pid) - baseline
        finally:
            for sock in socks:
                sock.close()
    assert grown < 16 * MIB + 24 * MIB, f"grew by {grown / MIB:.0f} MiB"
