"""``pycti schedule check|run`` and the reference schedule run over CTI on an LFP channel."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from pyctiarbin.protocol import (
    AssignScheduleRequest,
    ChannelInfoFeedback,
    ChannelInfoRequest,
    ChannelRecord,
    StartRequest,
    StopRequest,
)
from pyctiarbin.simulator import Simulator
from pyctiarbin.simulator.cell import CELL_PRESETS
from pyctiarbin.simulator.rawclient import RawClient
from schedule_reference import REFERENCE, REFERENCE_LABELS

from .support import PASSWORD, USER, RunPycti, address, lines, pycti_sim

FILE_ORDER = REFERENCE_LABELS
CYCLE = FILE_ORDER[7:]
LFP = CELL_PRESETS["lfp"]
_STEP_AND_CYCLE = re.compile(r"\[(\d+)\] (\d+): (.*), (.*?)( CV)?$")


def read(client: RawClient, index: int) -> ChannelRecord:
    answer = client.request(ChannelInfoRequest(channel_index=index))
    assert isinstance(answer, ChannelInfoFeedback)
    return answer.channels[0]


def test_the_reference_schedule_over_cti_on_an_lfp_channel(run_pycti: RunPycti) -> None:
    config = {
        "channels": 2,
        "speed": 3600.0,
        "channel_cells": {2: LFP},
        "users": {USER: PASSWORD},
        "refresh_interval_s": 0.0,
    }
    wall = [0.0]
    with Simulator(**config) as sim:
        # The simulation's own clock: each poll lets 20 simulated seconds pass, at 3600x.
        sim.cycler.set_clock(lambda: wall[0])
        put = run_pycti("files", "put", str(REFERENCE), *address(sim))
        assert put.returncode == 0, put.stderr
        assert (sim.work_dir / REFERENCE.name).read_bytes() == REFERENCE.read_bytes()
        with RawClient(sim.host, sim.port) as client:
            client.login(USER, PASSWORD)
            assign = AssignScheduleRequest(channel_index=1, schedule=REFERENCE.name)
            assert client.result(assign) == 0
            assert client.result(StartRequest(test_name="fastcharge", channel_indexes=(1,))) == 0
            samples: list[ChannelRecord] = []
            for _ in range(20000):  # 111 simulated hours at most
                wall[0] += 20.0 / 3600.0
                record = read(client, 1)
                samples.append(record)
                match = _STEP_AND_CYCLE.match(record.step_and_cycle_format)
                if match and int(match.group(1)) == 3:
                    break
            assert client.result(StopRequest(channel_index=1)) == 0
            history = sim.cycler.step_history(1)

    # Every step the channel executed, in the file's order, then CC1 of cycle 2 (the steps that
    # take no time, Set Variable(s) and a CC1 whose capacity limit already holds, included).
    executed = [(step.label, step.cycle_index) for step in history]
    assert executed[:16] == [(label, 1) for label in FILE_ORDER] + [("CC1", 2)]
    assert executed[15:23] == [(label, 2) for label in CYCLE]
    assert samples[-1].step_and_cycle_format.startswith("[3] 8: CC1, CCCV")

    # What "Step and Cycle" showed over CTI: labels and numbers of the file, in its order.
    shown = []
    for record in samples:
        match = _STEP_AND_CYCLE.match(record.step_and_cycle_format)
        assert match is not None, record.step_and_cycle_format
        cycle, number, label = int(match.group(1)), int(match.group(2)), match.group(3)
        assert FILE_ORDER[number - 1] == label
        if cycle <= 2 and (not shown or shown[-1] != (label, cycle)):
            shown.append((label, cycle))
    expected = [(label, 1) for label in FILE_ORDER] + [(label, 2) for label in CYCLE]
    position = 0
    for item in shown:  # a subsequence of what ran: a poll can fall between short steps
        position = expected.index(item, position) + 1 if item in expected[position:] else -1
        assert position > 0, (item, shown)
    long_steps = {"Initial Rest", "Initial Discharge", "Initial Charge", "Second Discharge"}
    assert long_steps <= {label for label, _ in shown}
    # The cycle index goes from 1 to 2 at the Loop step: CC1 is the first step of cycle 2.
    first_of_2 = next(i for i, (_, cycle) in enumerate(shown) if cycle == 2)
    assert all(cycle == 1 for _, cycle in shown[:first_of_2])
    assert shown[first_of_2][0] in CYCLE

    # CCCV steps switch to CV at their voltages (3.6 V charging, 2.0 V discharging) ...
    cv = [r for r in samples if r.step_and_cycle_format.endswith("CCCV CV") and r.current_a != 0]
    assert any(r.current_a > 0 for r in cv) and any(r.current_a < 0 for r in cv)
    for record in cv:
        assert record.voltage_v == pytest.approx(3.6 if record.current_a > 0 else 2.0, abs=0.01)
    cc = [r for r in samples if r.step_and_cycle_format.endswith(", CCCV") and r.current_a != 0]
    assert cc and all(2.0 - 0.01 <= r.voltage_v <= 3.6 + 0.01 for r in cc)
    # ... and end on the CV-stage current limit.
    by_label = {(s.label, s.cycle_index): s for s in history}
    for label in ("Initial Discharge", "Initial Charge", "Second Discharge"):
        assert by_label[(label, 1)].end_reason.startswith("PV_CHAN_CV_Stage_Current")
    for label in ("Finishing Step", "Discharge"):
        assert by_label[(label, 2)].end_reason.startswith("PV_CHAN_CV_Stage_Current")
    # The internal resistance of the IR steps is reported.
    assert any(r.internal_resistance_ohm == pytest.approx(LFP.r0_ohm, rel=0.05) for r in samples)

    # Each full cycle charges and discharges what the cell holds, within 5 % of each other.
    for cycle in (2,):
        steps = [s for s in history if s.cycle_index == cycle]
        charge = sum(s.charge_capacity_ah for s in steps)
        discharge = sum(s.discharge_capacity_ah for s in steps)
        assert charge == pytest.approx(discharge, rel=0.05)
        assert 0.9 * LFP.capacity_ah <= charge <= LFP.capacity_ah
        assert 0.9 * LFP.capacity_ah <= discharge <= LFP.capacity_ah

    # A dry run of the same file runs the same steps.
    dry = run_pycti("schedule", "run", str(REFERENCE), "--cell", "lfp", "--cycles", "3", "--json")
    assert dry.returncode == 0, dry.stderr
    document = json.loads(dry.stdout)
    offline = [(s["label"], s["cycle_index"]) for s in document["steps"]]
    assert offline[:23] == executed[:23] and len(offline) == 15 + 8 + 8
    for cycle in (2, 3):
        steps_of = [s for s in document["steps"] if s["cycle_index"] == cycle]
        charge = sum(s["charge_capacity_ah"] for s in steps_of)
        discharge = sum(s["discharge_capacity_ah"] for s in steps_of)
        assert charge == pytest.approx(discharge, rel=0.05)
        assert 0.9 * LFP.capacity_ah <= min(charge, discharge) <= max(charge, discharge) <= 1.1
    assert document["end"]["status"] == "cycles"
    first = document["steps"][0]
    assert set(first) == {
        "step_index",
        "label",
        "step_type",
        "cycle_index",
        "end_reason",
        "duration_s",
        "charge_capacity_ah",
        "discharge_capacity_ah",
    }
    assert (first["step_index"], first["label"]) == (1, "pulse charge")
    assert first["duration_s"] == pytest.approx(1.0)


def test_schedule_run_table_csv_and_plot(run_pycti: RunPycti, workdir: Path) -> None:
    local = workdir / REFERENCE.name
    shutil.copyfile(REFERENCE, local)
    ran = run_pycti(
        "schedule", "run", local.name, "--cell", "lfp", "--cycles", "1", "--out", "points.csv"
    )
    assert ran.returncode == 0, ran.stderr
    out = lines(ran.stdout)
    assert out[0].split()[:4] == ["step", "label", "type", "cycle"]
    assert [re.split(r"\s{2,}", line)[1] for line in out[1:16]] == FILE_ORDER
    assert out[-1].startswith("end: cycles: 1 cycles done (test time ")
    csv_lines = (workdir / "points.csv").read_text().splitlines()
    assert csv_lines[0].startswith(
        "test_time_s,step_time_s,step_number,step_label,cycle_index,voltage_v"
    )
    assert len(csv_lines) > 1000
    hours = run_pycti("schedule", "run", local.name, "--until-hours", "1", "--json")
    assert hours.returncode == 0, hours.stderr
    assert json.loads(hours.stdout)["end"]["status"] == "time"
    pytest.importorskip("matplotlib")
    plotted = run_pycti(
        "schedule", "run", local.name, "--cell", "lfp", "--cycles", "1", "--plot", "run.png"
    )
    assert plotted.returncode == 0, plotted.stderr
    assert (workdir / "run.png").read_bytes().startswith(b"\x89PNG")


def test_schedule_check(run_pycti: RunPycti, workdir: Path) -> None:
    good = run_pycti("schedule", "check", str(REFERENCE))
    assert good.returncode == 0, good.stderr
    assert lines(good.stdout) == [
        f"{REFERENCE}: OK: 15 steps, 47 limits, 0 formulas, 2 safety scopes"
    ]
    text = REFERENCE.read_bytes().decode("latin-1")
    text = text.replace("m_szStepCtrlType=Rest", "m_szStepCtrlType=Pulse(A)", 1)
    text = text.replace("m_szGotoStep=CC1", "m_szGotoStep=CC9")
    text = text.replace("Equation0_szLeft=DV_Time", "Equation0_szLeft=DV_Tme", 1)
    (workdir / "bad.sdu").write_bytes(text.encode("latin-1"))
    bad = run_pycti("schedule", "check", "bad.sdu")
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert lines(bad.stderr) == [
        "bad.sdu: [Schedule_Step2] m_szStepCtrlType: step 3 'Initial Rest': unknown step type"
        " 'Pulse(A)' (the simulator runs Rest, Current(A), C-Rate, Voltage(V), CCCV, Internal"
        " Resistance, Set Variable(s), Power(W))",
        "bad.sdu: [Schedule_Step2_Limit1] Equation0_szLeft: unknown variable 'DV_Tme'",
        "bad.sdu: [Schedule_Step14_Limit0] m_szGotoStep: goto 'CC9': no step has that label",
        "pycti: error: bad.sdu: 3 problems: not a schedule the simulator can run",
    ]
    never = text.replace("m_szStepCtrlType=Pulse(A)", "m_szStepCtrlType=Rest")
    never = never.replace("m_szGotoStep=CC9", "m_szGotoStep=End Test").replace("DV_Tme", "DV_Time")
    never = never.replace("m_bStepLimit=1", "m_bStepLimit=0", 1)
    (workdir / "never.sdu").write_bytes(never.encode("latin-1"))
    stuck = run_pycti("schedule", "check", "never.sdu")
    assert stuck.returncode == 1
    assert lines(stuck.stderr) == [
        "never.sdu: [Schedule_Step0] m_uLimitNum: step 1 'pulse charge' has no step limit:"
        " it never ends",
        *(
            f"never.sdu: [Schedule_Step{n}]: step {n + 1} '{FILE_ORDER[n]}' is never reached"
            for n in range(1, 15)
        ),
        "pycti: error: never.sdu: 15 problems",
    ]
    missing = run_pycti("schedule", "check", "nope.sdu")
    assert missing.returncode == 2 and "cannot read nope.sdu" in missing.stderr


def test_pycti_sim_cells_per_channel(tmp_path: Path, run_pycti: RunPycti) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text('preset = "lfp"\ninitial_soc = 0.02\n')
    options = [
        "--port", "0", "--no-file-port",
        "--channels", "3", "--cell", "lfp", "--cell", "2=nmc", "--cell", f"3={mine}",
    ]  # fmt: skip
    with (
        pycti_sim(*options, cwd=tmp_path) as sim,
        RawClient("127.0.0.1", sim.port("control")) as client,
    ):
        client.login(USER, PASSWORD)
        volts = [read(client, index).voltage_v for index in range(3)]
    # At rest: the LFP plateau at 50 %, the NMC curve at 50 %, LFP at 2 %.
    assert volts == [
        pytest.approx(3.30, abs=0.005),
        pytest.approx(3.76, abs=0.005),
        pytest.approx(2.9, abs=0.005),
    ]
    bad = run_pycti("sim", "--port", "0", "--cell", "lead")
    assert bad.returncode == 2
    assert "unknown cell 'lead': use a preset (nmc, lfp) or a .toml file" in bad.stderr
    nowhere = run_pycti("sim", "--port", "0", "--channels", "2", "--cell", "5=lfp")
    assert nowhere.returncode == 2
    assert "channel_cells: no channel 5 (channels 1..2)" in nowhere.stderr
