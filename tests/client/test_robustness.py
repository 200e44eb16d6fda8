"""The client against a misbehaving cycler: faults, a restart, threads and tasks, secrets."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest

from pyctiarbin import (
    AsyncCyclerClient,
    CtiConnectionError,
    CtiError,
    CtiTimeout,
    CyclerClient,
    LoginError,
)
from pyctiarbin.protocol import (
    ChannelInfoFeedback,
    ChannelRecord,
    LoginFeedback,
    LoginRequest,
    decode,
    encode,
)
from pyctiarbin.simulator import Faults, Simulator

from .conftest import PASSWORD, USER, Api, make_client, run_both
from .scripted_server import ThreadedServer


def faulty(**faults: object) -> Simulator:
    return Simulator(channels=4, users={USER: PASSWORD}, faults=Faults(**faults))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "faults",
    [{"split_writes": 7}, {"latency_s": 0.05}, {"split_writes": 61, "latency_s": 0.01}],
    ids=["split", "latency", "split+latency"],
)
def test_reads_survive_a_misbehaving_stream(kind: str, faults: dict[str, object]) -> None:
    with faulty(**faults) as sim:

        async def body(api: Api) -> None:
            for _ in range(2):
                statuses = await api("read_channels")
                assert [s.channel for s in statuses] == [1, 2, 3, 4]
            await api("assign_schedule", 2, "Rest.sdx")
            await api("start", 2, "faults")
            assert (await api("read_channel", 2)).test_name == "faults"
            await api("stop", 2)

        run_both(kind, sim, body)


def test_bytes_that_are_not_frames_are_never_taken_for_answers(kind: str) -> None:
    # Garbage after every frame (after the login feedback too): no connection can be trusted,
    # so reads fail after their retries and a control command is never written.
    with faulty(stray_bytes=13) as sim:

        async def body(api: Api) -> None:
            with pytest.raises(CtiConnectionError, match="not part of a frame") as error:
                await api("read_channels")
            assert not error.value.outcome_unknown
            with pytest.raises(CtiConnectionError) as error:
                await api("send_message", "never-sent")
            assert not error.value.outcome_unknown
            assert sim.received_messages == []

        run_both(kind, sim, body, retries=1)


def test_corrupted_answers(kind: str) -> None:
    with faulty(corrupt_checksum_every=3) as sim:

        async def body(api: Api) -> None:
            # Reads whose answer is corrupted are asked again on a fresh connection (the
            # corrupted one is closed); they always come out right.
            for _ in range(6):
                statuses = await api("read_channels")
                assert len(statuses) == 4
            # A control command whose answer is corrupted is not sent again.
            outcomes = []
            for _ in range(3):
                try:
                    await api("assign_schedule", 1, "Rest.sdx")
                    outcomes.append("ok")
                except CtiError as exc:
                    assert exc.outcome_unknown
                    assert "outcome is unknown" in str(exc)
                    outcomes.append("unknown")
            assert "unknown" in outcomes

        run_both(kind, sim, body, retries=3)


def test_dropped_connection(kind: str) -> None:
    with faulty(drop_after_frames=3) as sim:

        async def body(api: Api) -> None:
            # Reads reconnect and log in again by themselves.
            for _ in range(8):
                assert len(await api("read_channels")) == 4
            # A control command on a connection that drops is reported, not repeated.
            failures = 0
            for _ in range(4):
                try:
                    await api("stop", 1)
                except CtiConnectionError as exc:
                    assert exc.outcome_unknown
                    failures += 1
                except CtiError:
                    pass  # the stop itself was refused: channel 1 is idle
            assert failures >= 1

        run_both(kind, sim, body)


@pytest.mark.parametrize(
    "faults",
    [{"corrupt_checksum_every": 3}, {"drop_after_frames": 3}, {"split_writes": 61}],
    ids=["corrupt", "drop", "split"],
)
def test_single_reads_recover_from_a_faulty_stream(kind: str, faults: dict[str, object]) -> None:
    # A one-channel read is one request and one answer: the blocking client makes its first
    # attempt outside the connection script and hands a failure to the script's retries.
    with faulty(**faults) as sim:

        async def body(api: Api) -> None:
            for number in range(12):
                channel = number % 4 + 1
                assert (await api("read_channel", channel)).channel == channel

        run_both(kind, sim, body, retries=3)


@pytest.mark.parametrize("read", ["read_channels", "read_channel"])
def test_silent_cycler_times_out(kind: str, read: str) -> None:
    with faulty(silent=True) as sim:
        client = make_client(kind, sim, timeout=0.3, retries=0)

        async def main() -> None:
            api = Api(client)
            started = time.monotonic()
            with pytest.raises(CtiTimeout) as error:
                await api(read, *([1] if read == "read_channel" else []))
            assert isinstance(error.value, TimeoutError)
            assert time.monotonic() - started < 2.0
            await api("close")

        asyncio.run(main())


class TricklingServer(ThreadedServer):
    """Answers a read in ``pieces`` parts, ``gap_s`` apart: each part well within any
    timeout, the whole answer as late as the test wants."""

    def __init__(self, pieces: int, gap_s: float) -> None:
        self.pieces, self.gap_s = pieces, gap_s
        super().__init__()

    def _answer(self, sock: Any, number: int, frame: bytes, state: dict[str, Any]) -> bool:
        request = decode(frame)
        if isinstance(request, LoginRequest):
            sock.sendall(encode(LoginFeedback(num_channels=4, serial_number="TRICKLE")))
            return True
        answer = encode(ChannelInfoFeedback((ChannelRecord(channel_index=0, test_time_s=7.0),)))
        size = -(-len(answer) // self.pieces)
        for start in range(0, len(answer), size):
            if self._stopping.wait(self.gap_s):
                return False
            sock.sendall(answer[start : start + size])
        return True


@pytest.mark.parametrize(
    ("pieces", "gap_s", "timeout"),
    [(10, 0.02, 5.0), (40, 0.1, 0.5)],
    ids=["in-time", "too-late"],
)
def test_an_answer_in_pieces_is_bounded_by_the_timeout_of_the_whole(
    kind: str, pieces: int, gap_s: float, timeout: float
) -> None:
    # Every piece comes long before the timeout; what counts is when the whole answer is in
    # (the blocking link lets the kernel time its first receive, and polls after that).
    with TricklingServer(pieces, gap_s) as server:
        cls = AsyncCyclerClient if kind == "async" else CyclerClient
        client = cls(
            "127.0.0.1", server.port, username=USER, password=PASSWORD, timeout=timeout, retries=0
        )

        async def main() -> None:
            api = Api(client)
            await api("connect")
            started = time.monotonic()
            try:
                if timeout > pieces * gap_s:
                    assert (await api("read_channel", 1)).test_time_s == 7.0
                else:
                    with pytest.raises(CtiTimeout):
                        await api("read_channel", 1)
                    # Long before the answer's 4 s, however loaded the machine.
                    assert time.monotonic() - started < pieces * gap_s / 2
            finally:
                await api("close")

        asyncio.run(main())


def test_unreachable_and_wrong_password(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with Simulator(channels=2, users={USER: PASSWORD}) as sim:
        port = sim.port
        client = make_client(kind, sim, password="wrong-Secret-123", retries=2)

        async def main() -> None:
            api = Api(client)
            with pytest.raises(LoginError) as error:
                await api("read_channels")
            assert "wrong-Secret-123" not in str(error.value)
            assert "wrong-Secret-123" not in repr(client)
            await api("close")

        asyncio.run(main())
    assert "wrong-Secret-123" not in caplog.text
    assert PASSWORD not in caplog.text
    cls = AsyncCyclerClient if kind == "async" else CyclerClient
    unreachable = cls("127.0.0.1", port, username=USER, password=PASSWORD, retries=0, timeout=1)

    async def main2() -> None:
        with pytest.raises(CtiConnectionError) as error:
            await Api(unreachable)("read_channels")
        assert not error.value.outcome_unknown
        await Api(unreachable)("close")

    asyncio.run(main2())


def test_restart_under_a_running_client(kind: str) -> None:
    first = Simulator(channels=4, users={USER: PASSWORD})
    first.start()
    port, file_port = first.port, first.file_port
    client = make_client(kind, first, backoff_s=0.2, retries=5)
    try:

        async def main() -> None:
            api = Api(client)
            assert len(await api("read_channels")) == 4
            first.stop()
            restarted = Simulator(
                channels=4, users={USER: PASSWORD}, port=port, file_port=file_port
            )
            restarted.start()
            try:
                # Reads resume by themselves: reconnect, log in again, answer.
                assert len(await api("read_channels")) == 4
                await api("assign_schedule", 1, "Rest.sdx")
            finally:
                restarted.stop()
            # Restart once more, now killing it while a control command waits for its answer.
            slow = Simulator(
                channels=4,
                users={USER: PASSWORD},
                port=port,
                file_port=file_port,
                faults=Faults(latency_s=1.0),
            )
            slow.start()
            try:
                # The old connection is found closed before anything is written; the read
                # reconnects to the slow simulator, so the command below goes out on it.
                assert len(await api("read_channels")) == 4
                killer = threading.Timer(0.4, slow.stop)
                killer.start()
                with pytest.raises(CtiConnectionError) as error:
                    await api("assign_schedule", 1, "Rest.sdx")
                killer.join()
                assert error.value.outcome_unknown
                assert "outcome is unknown" in str(error.value)
            finally:
                slow.stop()
            await api("close")

        asyncio.run(main())
    finally:
        first.stop()


def test_sync_client_is_thread_safe() -> None:
    with (
        Simulator(channels=16, users={USER: PASSWORD}) as sim,
        CyclerClient(sim.host, sim.port, username=USER, password=PASSWORD) as client,
    ):
        errors: list[BaseException] = []
        counts = [0] * 8

        def worker(slot: int) -> None:
            try:
                for i in range(20):
                    if i % 2:
                        status = client.read_channel(slot + 1)
                        assert status.channel == slot + 1
                    else:
                        assert len(client.read_channels()) == 16
                    counts[slot] += 1
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert counts == [20] * 8


def test_async_client_is_safe_under_concurrent_tasks() -> None:
    with Simulator(channels=16, users={USER: PASSWORD}) as sim:

        async def main() -> None:
            async with AsyncCyclerClient(
                sim.host, sim.port, username=USER, password=PASSWORD
            ) as client:

                async def reader(channel: int) -> int:
                    for _ in range(10):
                        status = await client.read_channel(channel)
                        assert status.channel == channel
                    return channel

                done = await asyncio.gather(*(reader(ch) for ch in range(1, 17)))
                assert done == list(range(1, 17))

        asyncio.run(main())


def test_answer_all_cycler_gives_the_channel_asked_for(kind: str) -> None:
    with Simulator(channels=16, users={USER: PASSWORD}, answer_all=True) as sim:

        async def body(api: Api) -> None:
            await api("assign_schedule", 6, "Rest.sdx")
            await api("start", 6, "six")
            status = await api("read_channel", 6)
            assert status.channel == 6 and status.test_name == "six"
            other = await api("read_channel", 1)
            assert other.channel == 1 and other.test_name != "six"
            await api("stop", 6)

        run_both(kind, sim, body)


def test_login_results() -> None:
    from pyctiarbin.client.session import LinkCore, LinkSettings
    from pyctiarbin.credentials import Credentials
    from pyctiarbin.protocol import LoginFeedback

    core = LinkCore(
        LinkSettings("127.0.0.1", 9031, Credentials(USER, PASSWORD), timeout=1.0, label="cycler")
    )
    # "Already logged in" (a session the cycler still counts) is a logged-in session.
    assert core._check_login(LoginFeedback(result=3, num_channels=4)).num_channels == 4
    assert core._check_login(LoginFeedback(result=1, num_channels=4)).num_channels == 4
    with pytest.raises(LoginError) as refused:
        core._check_login(LoginFeedback(result=2))
    assert refused.value.result == 2
    assert PASSWORD not in str(refused.value)
