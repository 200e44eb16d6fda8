"""The seed, pycti-arbin 0.0.13 installed from the package index into a throwaway venv,
drives a 64-channel `python -m pyctiarbin.simulator` through its own CyclerInterface and
ChannelInterface: login, every channel read, assign + start MV_Current.sdx, set an MV, stop;
refused for a wrong password, a missing schedule and an MV on an idle channel.

The seed and this project share the import name ``pyctiarbin``, so the seed runs in a
subprocess of its own venv. The venv is built once per machine in pytest's cache directory
(reused across sessions; the ``seed_python`` fixture in tests/conftest.py); the test skips only
when the package index cannot be reached.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pyctiarbin.protocol import ChannelInfoFeedback, ChannelInfoRequest, StatusCode
from pyctiarbin.simulator.process import SimulatorProcess
from pyctiarbin.simulator.rawclient import RawClient

USER, PASSWORD = "seed-user", "seed-Pa55"


# Runs inside the seed's venv: only the seed's own API, exactly as a seed user writes it.
SEED_SCRIPT = r"""
import json, logging, sys, time
from pyctiarbin import ChannelInterface, CyclerInterface

args = json.loads(sys.argv[1])
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())
logging.getLogger().addHandler(Keep())
logging.getLogger().setLevel(logging.INFO)

base = {"ip_address": args["host"], "port": args["port"], "timeout_s": 5.0}
out = {}
cycler = CyclerInterface(base, env_path=args["good_env"])
out["num_channels"] = cycler.get_num_channels()
out["serial"] = cycler.get_login_feedback()["cycler_sn"]
statuses = [cycler.read_channel_status(channel) for channel in range(1, 65)]
out["channels"] = [s["channel"] for s in statuses]
out["statuses"] = [s["status"] for s in statuses]
out["voltages"] = [s["voltage_v"] for s in statuses]

channel = ChannelInterface(
    {**base, "channel": 5, "test_name": "seed test", "schedule_name": "MV_Current.sdx"},
    env_path=args["good_env"],
)
out["start"] = channel.start_test()
out["status_started"] = channel.read_channel_status()["status"]
out["set_mv"] = channel.set_meta_variable(mv_num=1, mv_value=1.25)
time.sleep(0.3)
running = channel.read_channel_status()
out["running"] = {k: running[k] for k in ("channel", "status", "current_a", "schedule",
                                            "testname")}
out["stop"] = channel.stop_test()
out["status_stopped"] = channel.read_channel_status()["status"]

missing = ChannelInterface(
    {**base, "channel": 6, "test_name": "x", "schedule_name": "Does_Not_Exist.sdx"},
    env_path=args["good_env"],
)
out["assign_missing"] = missing.assign_schedule()
out["start_missing"] = missing.start_test()
idle = ChannelInterface({**base, "channel": 7}, env_path=args["good_env"])
out["mv_idle"] = idle.set_meta_variable(mv_num=1, mv_value=1.0)
try:
    CyclerInterface(base, env_path=args["bad_env"])
    out["wrong_password"] = "accepted"
except AssertionError:
    out["wrong_password"] = "refused"
out["log"] = records
print("RESULT " + json.dumps(out))
"""


@pytest.mark.slow
def test_seed_client_against_a_64_channel_simulator(
    seed_python: Path, seed_env: dict[str, str], tmp_path: Path
) -> None:
    good_env = tmp_path / "good.env"
    good_env.write_text(f"ARBIN_CTI_USERNAME={USER}\nARBIN_CTI_PASSWORD={PASSWORD}\n")
    bad_env = tmp_path / "bad.env"
    bad_env.write_text(f"ARBIN_CTI_USERNAME={USER}\nARBIN_CTI_PASSWORD=not-the-password\n")
    with SimulatorProcess(
        ["--channels", "64", "--users", f"{USER}:{PASSWORD}", "--speed", "60"],
        env=seed_env | {"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")},
    ) as sim:
        serial = f"SIM{sim.port:05d}"  # derived from the port when not given
        arguments = {
            "host": sim.host,
            "port": sim.port,
            "good_env": str(good_env),
            "bad_env": str(bad_env),
        }
        completed = subprocess.run(
            [str(seed_python), "-c", SEED_SCRIPT, json.dumps(arguments)],
            capture_output=True,
            text=True,
            env=seed_env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
        line = next(x for x in completed.stdout.splitlines() if x.startswith("RESULT "))
        out = json.loads(line[len("RESULT ") :])

        # What the simulator itself says about channel 5 (wire index 4) afterwards.
        with RawClient(sim.host, sim.port) as client:
            client.login(USER, PASSWORD)
            answer = client.request(ChannelInfoRequest(channel_index=4))
            assert isinstance(answer, ChannelInfoFeedback)
            after = answer.channels[0]

    assert out["num_channels"] == 64
    assert out["serial"] == serial
    assert out["channels"] == list(range(64))  # the seed subtracts 1 on the wire
    assert set(out["statuses"]) == {"Idle"}
    assert all(3.0 < v < 4.3 for v in out["voltages"])

    assert out["start"] is True
    assert out["status_started"] == "Rest"  # MV_UD1 is 0: no current yet
    assert out["set_mv"] is True
    running = out["running"]
    assert running["channel"] == 4 and running["status"] == "Charge"
    assert running["current_a"] == pytest.approx(1.25)
    assert running["schedule"] == "MV_Current.sdx" and running["testname"] == "seed test"
    assert out["stop"] is True
    assert out["status_stopped"] == "Idle"
    assert after.status is StatusCode.IDLE and after.exit_condition == "Stop"
    assert after.charge_capacity_ah > 0

    assert out["assign_missing"] is False
    assert out["start_missing"] is False
    assert out["mv_idle"] is False
    assert out["wrong_password"] == "refused"
    log = "\n".join(out["log"])
    assert "Schedule name not found" in log
    assert "Login failed with provided credentials" in log
