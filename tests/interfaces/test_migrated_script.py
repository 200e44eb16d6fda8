"""A script written for pycti-arbin 0.0.13 runs unchanged on this package.

The script below uses only the seed's API, the way its README does (configuration dictionaries,
credentials in ``.env`` in the working directory). It runs in a fresh interpreter against the
simulator. The same script also runs with the seed itself (installed from the package index into
a throwaway venv) against an identical simulator, and both runs must print the same results and
send the same request bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from interfaces_support import CHANNELS, PASSWORD, USER, RecordingRelay
from seed_keys import CHANNEL_STATUS_KEYS, LOGIN_FEEDBACK_KEYS

from pyctiarbin.simulator import Simulator

SEED_STYLE_SCRIPT = """
import json
import time

from pyctiarbin import ChannelInterface, CyclerInterface

CYCLER_INTERFACE_CONFIG = {
    "ip_address": "__HOST__",
    "port": __PORT__,
    "timeout_s": 3,
    "msg_buffer_size": 4096,
}

CHANNEL_INTERFACE_CONFIG = {
    "channel": 5,
    "test_name": "migrated_test",
    "schedule_name": "MV_Current.sdx",
    "ip_address": "__HOST__",
    "port": __PORT__,
    "timeout_s": 3,
    "msg_buffer_size": 4096,
}

cycler_interface = CyclerInterface(CYCLER_INTERFACE_CONFIG)
num_channels = cycler_interface.get_num_channels()
readings = [cycler_interface.read_channel_status(channel=ch) for ch in range(1, num_channels + 1)]

channel_interface = ChannelInterface(CHANNEL_INTERFACE_CONFIG)
results = {
    "login": cycler_interface.get_login_feedback(),
    "num_channels": num_channels,
    "channel_indexes": [reading["channel"] for reading in readings],
    "idle_channel_5": readings[4],
    "mv_before_start": channel_interface.set_meta_variable(1, 0.5),
    "start": channel_interface.start_test(),
}
time.sleep(0.2)
running = channel_interface.read_channel_status()
results["running"] = {
    "keys": list(running),
    "channel": running["channel"],
    "status": running["status"],
    "testname": running["testname"],
}
results["mv"] = channel_interface.set_meta_variable(1, 0.5)
results["start_again"] = channel_interface.start_test()
results["stop"] = channel_interface.stop_test()
results["stop_idle"] = channel_interface.stop_test()
results["beyond_last_channel"] = cycler_interface.read_channel_status(channel=num_channels + 1)
print(json.dumps(results))
"""


def run_script(python: Path | str, workdir: Path, host: str, port: int) -> dict[str, Any]:
    """Write the script and a ``.env`` into ``workdir`` and run it there with ``python``."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / ".env").write_text(f"ARBIN_CTI_USERNAME='{USER}'\nARBIN_CTI_PASSWORD='{PASSWORD}'\n")
    script = workdir / "monitor_and_control.py"
    script.write_text(SEED_STYLE_SCRIPT.replace("__HOST__", host).replace("__PORT__", str(port)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARBIN_CTI_", "PYTHON"))}
    proc = subprocess.run(
        [str(python), "-I", str(script)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_against_fresh_simulator(
    python: Path | str, workdir: Path
) -> tuple[dict[str, Any], list[bytes]]:
    # A fixed serial number: two runs on two simulators (two ports) must answer alike.
    with Simulator(
        channels=CHANNELS, users={USER: PASSWORD}, speed=60.0, serial_number="SIM0001"
    ) as sim:
        sim.set_channel_status(5, voltage_v=3.5)
        relay = RecordingRelay(sim.host, sim.port)
        try:
            results = run_script(python, workdir, relay.host, relay.port)
        finally:
            relay.close()
    return results, relay.request_frames()


def test_seed_script_runs_unchanged(tmp_path: Path) -> None:
    results, _frames = run_against_fresh_simulator(sys.executable, tmp_path)
    assert list(results["login"]) == LOGIN_FEEDBACK_KEYS
    assert results["login"]["result"] == "success"
    assert results["num_channels"] == CHANNELS
    assert results["channel_indexes"] == list(range(CHANNELS))
    idle = results["idle_channel_5"]
    assert list(idle) == CHANNEL_STATUS_KEYS
    assert (idle["channel"], idle["status"], idle["voltage_v"]) == (4, "Idle", 3.5)
    assert results["mv_before_start"] is False
    assert results["start"] is True
    assert results["running"]["keys"] == CHANNEL_STATUS_KEYS
    assert results["running"]["channel"] == 4
    assert results["running"]["status"] not in ("Idle", "Finished")
    assert results["running"]["testname"] == "migrated_test"
    assert results["mv"] is True
    assert results["start_again"] is False
    assert results["stop"] is True
    assert results["stop_idle"] is True
    assert results["beyond_last_channel"] == {}


def test_seed_and_this_package_give_the_same_results_and_bytes(
    seed_python: Path, tmp_path: Path
) -> None:
    ours, our_frames = run_against_fresh_simulator(sys.executable, tmp_path / "ours")
    theirs, seed_frames = run_against_fresh_simulator(seed_python, tmp_path / "seed")
    assert ours == theirs
    # Same key order too (dictionary equality ignores it).
    assert list(ours["login"]) == list(theirs["login"]) == LOGIN_FEEDBACK_KEYS
    assert list(ours["idle_channel_5"]) == list(theirs["idle_channel_5"]) == CHANNEL_STATUS_KEYS
    # 2 logins, 8 reads, MV, assign, start, read, MV, assign (refused), stop, stop.
    assert len(our_frames) == len(seed_frames) == 18
    for index, (our_frame, seed_frame) in enumerate(zip(our_frames, seed_frames, strict=True)):
        assert our_frame == seed_frame, f"request {index} differs"
