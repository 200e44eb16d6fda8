"""20 clients at once on a 512-channel simulator, each reading every channel in a loop for
10 s: no error, and no client starved. The clients are plain sockets with the protocol codec
(FrameReader, decode); the simulator runs as `python -m pyctiarbin.simulator`."""

from __future__ import annotations

import threading
import time

import pytest

from pyctiarbin.protocol import (
    AssignScheduleRequest,
    ChannelInfoFeedback,
    ChannelInfoRequest,
    StartRequest,
    StatusCode,
    encode,
)
from pyctiarbin.simulator.process import SimulatorProcess
from pyctiarbin.simulator.rawclient import RawClient

CLIENTS = 20
CHANNELS = 512
DURATION_S = 10.0
RUNNING = 64


@pytest.mark.slow
def test_twenty_clients_read_512_channels_for_ten_seconds() -> None:
    with SimulatorProcess(["--channels", str(CHANNELS), "--speed", "60"]) as sim:
        with RawClient(sim.host, sim.port) as control:
            assert control.login("admin", "admin").result == 1
            for index in range(RUNNING):
                assert (
                    control.result(
                        AssignScheduleRequest(channel_index=index, schedule="Cycle_CCCV.sdx")
                    )
                    == 0
                )
            started = control.request_all(
                StartRequest(test_name="load", channel_indexes=tuple(range(RUNNING))), RUNNING
            )
            assert all(answer.result == 0 for answer in started)  # type: ignore[attr-defined]

        request = encode(ChannelInfoRequest(channel_index=-1))
        counts = [0] * CLIENTS
        errors: list[str] = []
        go = threading.Barrier(CLIENTS)
        deadline: list[float] = []

        def client(number: int) -> None:
            try:
                with RawClient(sim.host, sim.port, timeout=30.0) as raw:
                    assert raw.login("admin", "admin").result == 1
                    go.wait()
                    if not deadline:
                        deadline.append(time.monotonic() + DURATION_S)
                    last_times = [0.0] * RUNNING
                    while time.monotonic() < deadline[0]:
                        raw.send(request)
                        answer = raw.recv()  # checksum verified and fully decoded
                        assert isinstance(answer, ChannelInfoFeedback)
                        records = answer.channels
                        assert [r.channel_index for r in records] == list(range(CHANNELS))
                        for index in range(RUNNING):
                            record = records[index]
                            assert record.status is not StatusCode.IDLE
                            assert record.test_time_s >= last_times[index]
                            last_times[index] = record.test_time_s
                        counts[number] += 1
            except Exception as exc:  # reported below, with the client's number
                errors.append(f"client {number}: {exc!r}")

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DURATION_S + 60)
        assert not errors, errors
        assert not any(thread.is_alive() for thread in threads)
        mean = sum(counts) / CLIENTS
        print(f"reads per client in {DURATION_S:g} s: {counts} (mean {mean:.1f})")
        assert min(counts) >= 5, counts
        assert min(counts) >= 0.5 * mean, f"a client was starved: {counts}"
