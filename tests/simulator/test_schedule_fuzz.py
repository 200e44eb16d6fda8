"""Mutated schedule files (seeded random mutations of real and shipped ones): the parser either
accepts them or raises ScheduleParseError naming what is wrong; what it accepts runs on the
engine without an exception; the server answers whatever it is given."""

from __future__ import annotations

import random

import pytest

from pyctiarbin.protocol import (
    AssignScheduleRequest,
    ChannelInfoFeedback,
    ChannelInfoRequest,
    StartRequest,
    StopRequest,
)
from pyctiarbin.simulator import Simulator
from pyctiarbin.simulator.cell import CELL_PRESETS
from pyctiarbin.simulator.dryrun import dry_run
from pyctiarbin.simulator.rawclient import RawClient
from pyctiarbin.simulator.schedule import (
    SHIPPED_SCHEDULES_DIR,
    Schedule,
    ScheduleParseError,
    parse_schedule,
)
from schedule_reference import REFERENCE

from .mits import limit, mits_text, step

SOURCES = [REFERENCE, *sorted(SHIPPED_SCHEDULES_DIR.glob("*.sdx"))]
TOKENS = [
    "",
    "x",
    "1e309",
    "-1",
    "0",
    "nan",
    "inf",
    "3.6",
    "-4.4",
    "PV_CHAN_Voltage",
    "MV_UD99",
    "MV_UD1",
    "TC_Counter2",
    "CC1",
    "End Test",
    "Next Step",
    "Pulse(A)",
    "CCCV",
    "Rest",
    "Set Variable(s)",
    "Power(W)",
    "^",
    "[",
    "=",
    ">",
    "<=",
    "==",
    "1^2",
    "9" * 400,
    "1/0",
    "__import__('os')",
    "\xff\xfe",
    "DV_Time",
    "2*PV_CHAN_Step_Time",
]


def mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 4)):
        if not lines:
            break
        index = rng.randrange(len(lines))
        choice = rng.randrange(7)
        if choice == 0:
            del lines[index]
        elif choice == 1:
            lines.insert(index, lines[rng.randrange(len(lines))])
        elif choice == 2 and "=" in lines[index]:
            key = lines[index].split("=", 1)[0]
            lines[index] = f"{key}={rng.choice(TOKENS)}"
        elif choice == 3 and lines[index].startswith("["):
            lines[index] = lines[index].replace(str(rng.randrange(10)), str(rng.randrange(20)), 1)
        elif choice == 4:
            lines[index] = lines[index][: rng.randrange(len(lines[index]) + 1)]
        elif choice == 5:
            lines.insert(index, "".join(chr(rng.randrange(256)) for _ in range(rng.randrange(30))))
        else:
            lines = lines[: index + 1]
    return "\r\n".join(lines)


def outcome(text: str) -> Schedule | ScheduleParseError:
    try:
        return parse_schedule(text, source="fuzz.sdx")
    except ScheduleParseError as exc:
        return exc


def test_mutated_files_parse_or_fail_clearly_and_run_when_accepted() -> None:
    rng = random.Random(20170630)
    texts = [path.read_bytes().decode("latin-1") for path in SOURCES]
    accepted = refused = 0
    for _ in range(400):
        result = outcome(mutate(rng.choice(texts), rng))
        if isinstance(result, ScheduleParseError):
            refused += 1
            assert str(result).startswith("fuzz.sdx: ")
            assert result.problems and all(p.message for p in result.problems)
            continue
        accepted += 1
        cell = CELL_PRESETS[rng.choice(["lfp", "nmc"])]
        run = dry_run(result, cell, cycles=1, until_s=6 * 3600.0)
        assert run.status in ("finished", "unsafe", "stopped", "cycles", "time")
        assert all(step.duration_s >= 0.0 for step in run.steps)
    # Both outcomes are exercised by this seed.
    assert accepted > 40 and refused > 40, (accepted, refused)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_server_answers_whatever_schedule_it_is_given(seed: int) -> None:
    rng = random.Random(seed)
    texts = [path.read_bytes().decode("latin-1") for path in SOURCES]
    with Simulator(channels=4, speed=3600.0) as sim, RawClient(sim.host, sim.port) as client:
        client.login("admin", "admin")
        codes = set()
        for n in range(12):
            name = f"Fuzz{n}.sdx"
            (sim.work_dir / name).write_bytes(mutate(rng.choice(texts), rng).encode("latin-1"))
            index = n % 4
            client.result(StopRequest(channel_index=index))
            code = client.result(AssignScheduleRequest(channel_index=index, schedule=name))
            codes.add(code)
            assert code in (0, 0x17)  # assigned, or refused as a schedule it cannot run
            if code == 0:
                client.result(StartRequest(test_name=f"fuzz{n}", channel_indexes=(index,)))
            answer = client.request(ChannelInfoRequest(channel_index=-1))
            assert isinstance(answer, ChannelInfoFeedback) and len(answer.channels) == 4
        assert codes  # the loop ran


def test_assign_refuses_an_unknown_step_type_and_logs_the_step_and_type(
    caplog: pytest.LogCaptureFixture,
) -> None:
    text = mits_text(
        [
            step("Charge", "Current(A)", "1", limits=[limit(("PV_CHAN_Step_Time", ">", "10"))]),
            step("Wobble", "Current Ramp(A)", "1"),
        ]
    )
    with Simulator(channels=1) as sim, RawClient(sim.host, sim.port) as client:
        (sim.work_dir / "Ramp.sdu").write_text(text, encoding="latin-1")
        client.login("admin", "admin")
        with caplog.at_level("WARNING", logger="pyctiarbin.simulator.cycler"):
            assert client.result(AssignScheduleRequest(channel_index=0, schedule="Ramp")) == 0x17
    assert any(
        "[Schedule_Step1] m_szStepCtrlType: step 2 'Wobble': unknown step type 'Current Ramp(A)'"
        in record.getMessage()
        for record in caplog.records
    ), caplog.text
