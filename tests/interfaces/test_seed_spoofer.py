"""Our seed-compatible interfaces read and control through pycti-arbin 0.0.13's own ArbinSpoofer.

The seed's spoofer runs in the seed's venv (another process), as the test servers of a
migrated project do. It sends every frame with the checksum field zeroed and the real checksum
in two bytes after the frame; the seed never verified checksums, and our CyclerInterface and
ChannelInterface accept that shape with one warning per connection.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from interfaces_support import cycler_config

from pyctiarbin import ChannelInterface, CtiConnectionError, CyclerClient, CyclerInterface

# Runs inside the seed's venv: the seed's spoofer on a free port, until stdin closes.
SPOOFER_SCRIPT = """
import socket, sys, time
from pyctiarbin.arbinspoofer import ArbinSpoofer

probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()
spoofer = ArbinSpoofer({"ip": "127.0.0.1", "port": port, "num_channels": 4})
spoofer.start()
# The spoofer binds in its own thread: wait until it listens (the seed gives no way to ask).
for _ in range(500):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        time.sleep(0.01)
print(port, flush=True)
sys.stdin.read()
spoofer.stop()
"""


@pytest.fixture
def seed_spoofer_port(seed_python: Path, seed_env: dict[str, str], tmp_path: Path) -> Iterator[int]:
    script = tmp_path / "seed_spoofer.py"
    script.write_text(SPOOFER_SCRIPT)
    proc = subprocess.Popen(
        [str(seed_python), "-I", str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=seed_env,
    )
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(30)
        proc.stdout.close()  # type: ignore[union-attr]


def test_interfaces_read_and_control_through_the_seeds_spoofer(
    seed_spoofer_port: int, env_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = cycler_config("127.0.0.1", seed_spoofer_port)
    with caplog.at_level(logging.WARNING, logger="pyctiarbin.client"):
        with CyclerInterface(config, env_path=env_file) as cycler:
            assert cycler.get_num_channels() == 4
            assert cycler.get_login_feedback()["result"] == "success"
            for channel in (1, 2, 3, 4):
                status = cycler.read_channel_status(channel)
                # The seed's addressing: channel N asks for wire index N - 1.
                assert status["channel"] == channel - 1
                assert status["status"] == "Idle"
                assert status["schedule"] == "fake_schedule"
        zero_checksum_warnings = [r for r in caplog.records if "zeroed checksum" in r.getMessage()]
        assert len(zero_checksum_warnings) == 1  # once for the one connection

        caplog.clear()
        channel_config = {
            **config,
            "channel": 3,
            "test_name": "through the seed spoofer",
            "schedule_name": "Rest.sdx",
        }
        with ChannelInterface(channel_config, env_path=env_file) as channel:
            assert channel.assign_schedule() is True
            assert channel.start_test() is True
            assert channel.set_meta_variable(1, 0.5) is True
            assert channel.stop_test() is True
            assert channel.read_channel_status()["channel"] == 2
        assert len([r for r in caplog.records if "zeroed checksum" in r.getMessage()]) == 1


def test_a_strict_client_refuses_the_seeds_spoofer_and_says_why(seed_spoofer_port: int) -> None:
    client = CyclerClient(
        "127.0.0.1", seed_spoofer_port, username="u", password="p", timeout=3.0, retries=0
    )
    with pytest.raises(CtiConnectionError, match="lenient_checksum=True"):
        client.connect()
    client.close()
    lenient = CyclerClient(
        "127.0.0.1", seed_spoofer_port, username="u", password="p", lenient_checksum=True
    )
    with lenient:
        assert lenient.read_channel(2).channel_index == 1
