"""Control commands: one line per channel, the cycler's meaning for a refusal, exit codes."""

from __future__ import annotations

from pyctiarbin import CyclerClient
from pyctiarbin.simulator import Simulator

from .support import PASSWORD, USER, RunPycti, address, lines


def _client(sim: Simulator) -> CyclerClient:
    return CyclerClient(sim.host, sim.port, username=USER, password=PASSWORD)


def test_control_commands_succeed_and_say_so(sim: Simulator, run_pycti: RunPycti) -> None:
    where = address(sim)

    assigned = run_pycti("assign", "CCCV_Charge.sdx", "-c", "1-2", *where)
    assert assigned.returncode == 0, assigned.stderr
    assert lines(assigned.stdout) == [
        "channel 1: assigned CCCV_Charge.sdx",
        "channel 2: assigned CCCV_Charge.sdx",
    ]

    started = run_pycti("start", "run-1", "--channel", "1", "--channel", "2", *where)
    assert started.returncode == 0, started.stderr
    assert lines(started.stdout) == [
        "channel 1: started test 'run-1'",
        "channel 2: started test 'run-1'",
    ]
    assert sim.channel(1).test_name == "run-1" and sim.channel(1).status.is_running

    with_schedule = run_pycti("start", "mv-run", "--schedule", "MV_Current.sdx", "-c", "3", *where)
    assert with_schedule.returncode == 0, with_schedule.stderr
    assert lines(with_schedule.stdout) == ["channel 3: started test 'mv-run' with MV_Current.sdx"]
    assert sim.channel(3).schedule == "MV_Current.sdx"

    mv = run_pycti("mv", "set", "1=0.5", "MV_UD2=-1.25", "-c", "3", *where)
    assert mv.returncode == 0, mv.stderr
    assert lines(mv.stdout) == ["channel 3: set MV_UD1 = 0.5, MV_UD2 = -1.25"]
    assert sim.channel(3).meta_variables[:2] == (0.5, -1.25)

    jumped = run_pycti("jump", "1", "-c", "1", *where)
    assert jumped.returncode == 0, jumped.stderr
    assert lines(jumped.stdout) == ["channel 1: jumped to step 1"]

    assert sim.pause(2)
    continued = run_pycti("continue", "-c", "2", *where)
    assert continued.returncode == 0, continued.stderr
    assert lines(continued.stdout) == ["channel 2: continued"]
    assert sim.channel(2).status.is_running

    stopped = run_pycti("stop", "-c", "1", *where)
    assert stopped.returncode == 0, stopped.stderr
    assert lines(stopped.stdout) == ["channel 1: stopped"]
    assert not sim.channel(1).status.is_running

    resumed = run_pycti("resume", "-c", "1", *where)
    assert resumed.returncode == 0, resumed.stderr
    assert lines(resumed.stdout) == ["channel 1: resumed"]
    assert sim.channel(1).status.is_running


def test_refusals_are_reported_per_channel_with_their_meaning(
    sim: Simulator, run_pycti: RunPycti
) -> None:
    where = address(sim)
    with _client(sim) as client:
        client.assign_schedule([1, 3], "Rest.sdx")
        client.start(1, "already-running")

    # One command, three outcomes: running, no schedule, started.
    start = run_pycti("start", "batch", "-c", "1-3", *where)
    assert start.returncode == 1
    assert lines(start.stdout) == [
        "channel 1: refused: channel is already running or unsafe (code 0x12)",
        "channel 2: refused: no schedule assigned (code 0x15)",
        "channel 3: started test 'batch'",
    ]
    assert start.stderr == ""

    expected = {
        ("assign", "Missing.sdx", "-c", "4"): (
            "channel 4: refused: schedule not found in the work directory (code 0x13)"
        ),
        ("assign", "Rest.sdx", "-c", "1"): "channel 1: refused: channel is running (code 0x14)",
        ("continue", "-c", "1"): "channel 1: refused: channel is running (code 0x12)",
        ("jump", "2", "-c", "5"): "channel 5: refused: channel is not running (code 0x12)",
        ("mv", "set", "1=2", "-c", "5"): "channel 5: refused: channel is not running (code 0x12)",
        ("resume", "-c", "6"): "channel 6: refused: no schedule assigned (code 0x15)",
    }
    for args, line in expected.items():
        result = run_pycti(*args, *where)
        assert result.returncode == 1, (args, result.stderr)
        assert lines(result.stdout) == [line], args
    assert sim.channel(1).test_name == "already-running"  # nothing changed by the refusals


def test_all_channels_need_confirmation(sim: Simulator, run_pycti: RunPycti) -> None:
    with _client(sim) as client:
        client.assign_schedule([2, 7], "Rest.sdx")
        client.start([2, 7], "to-stop")

    refused = run_pycti("stop", "--all", *address(sim))
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert lines(refused.stderr) == [
        f"pycti: error: stop on every channel of {sim.host}:{sim.port} needs confirmation: "
        "add --yes (there is no terminal to ask on)"
    ]
    assert sim.channel(2).status.is_running

    confirmed = run_pycti("stop", "--all", "--yes", *address(sim))
    assert confirmed.returncode == 0, confirmed.stderr
    assert lines(confirmed.stdout) == [f"channel {ch}: stopped" for ch in range(1, 17)]
    assert not sim.channel(2).status.is_running
    assert not sim.channel(7).status.is_running


def test_bad_channel_arguments_are_usage_errors(sim: Simulator, run_pycti: RunPycti) -> None:
    missing = run_pycti("stop", "-c", "17", *address(sim))
    assert missing.returncode == 2
    assert lines(missing.stderr) == [
        "pycti: error: invalid argument: channel 17 does not exist; this cycler has channels 1..16"
    ]
