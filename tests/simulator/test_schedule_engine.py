"""Running MITS schedules on the engine: each step type, limit form, variable, mask, goto and
safety scope. Simulated time only: the engine has no clock."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from pyctiarbin.simulator.cell import CELL_PRESETS, Cell, CellParameters
from pyctiarbin.simulator.engine import (
    DataPoint,
    RunSettings,
    RunStatus,
    ScheduleRun,
    StepRecord,
)
from pyctiarbin.simulator.schedule import parse_schedule, read_schedule
from schedule_reference import REFERENCE

from .mits import limit, mits_text, step

NMC = replace(CellParameters(), r0_temperature_coefficient_per_k=0.0)
LFP = CELL_PRESETS["lfp"]


class Recorder:
    def __init__(
        self,
        steps: Sequence[dict[str, Any]],
        *,
        cell: CellParameters = NMC,
        soc: float | None = None,
        **text: Any,
    ) -> None:
        self.points: list[DataPoint] = []
        self.steps: list[StepRecord] = []
        schedule = parse_schedule(mits_text(steps, **text), name="t.sdx")
        self.run = ScheduleRun(
            schedule,
            Cell(cell, soc=soc),
            RunSettings(max_current_a=20.0),
            on_point=self.points.append,
            on_step=self.steps.append,
        )

    def start(self, until_s: float = 1e6, chunk_s: float = 5.0) -> Recorder:
        self.run.start()
        while self.run.status.is_running and self.run.test_time_s < until_s:
            self.run.advance(chunk_s)
        return self

    def ends(self) -> list[tuple[str, str]]:
        return [(record.label, record.end_reason) for record in self.steps]


def after(seconds: float) -> dict[str, Any]:
    return limit(("PV_CHAN_Step_Time", ">=", str(seconds)))


# -- step types ------------------------------------------------------------------------------------


def test_rest_carries_no_current_and_ends_on_its_step_time() -> None:
    rec = Recorder([step("R", "Rest", limits=[after(100)])]).start()
    assert rec.run.status is RunStatus.FINISHED
    assert rec.ends() == [("R", "PV_CHAN_Step_Time>=100")]
    assert rec.steps[0].duration_s == pytest.approx(100.0)
    assert rec.steps[0].charge_capacity_ah == rec.steps[0].discharge_capacity_ah == 0.0


@pytest.mark.parametrize(("ctrl", "expected_a"), [("1.5", 1.5), ("-2", -2.0)])
def test_current_step_holds_its_signed_current(ctrl: str, expected_a: float) -> None:
    rec = Recorder([step("I", "Current(A)", ctrl, limits=[after(600)])])
    rec.run.start()
    rec.run.advance(300)
    assert rec.run.current_a == pytest.approx(expected_a)
    assert rec.run.status is (RunStatus.CHARGE if expected_a > 0 else RunStatus.DISCHARGE)
    rec.run.advance(400)
    moved = rec.steps[0].charge_capacity_ah - rec.steps[0].discharge_capacity_ah
    assert moved == pytest.approx(expected_a * 600 / 3600)


def test_c_rate_is_a_multiple_of_the_cells_capacity() -> None:
    rec = Recorder([step("C", "C-Rate", "-0.5", limits=[after(60)])], cell=LFP)
    rec.run.start()
    assert rec.run.current_a == pytest.approx(-0.55)


def test_voltage_step_holds_the_voltage_in_a_cv_stage() -> None:
    rec = Recorder([step("V", "Voltage(V)", "3.9", limits=[after(1800)])], soc=0.5)
    rec.run.start()
    rec.run.advance(600)
    assert rec.run.voltage_v == pytest.approx(3.9, abs=2e-3)
    assert rec.run.current_a > 0.0 and rec.run.cv_stage
    assert rec.run.step_and_cycle_format == "[1] 1: V, Voltage(V) CV"


def test_cccv_switches_to_cv_at_its_voltage_and_ends_on_the_cv_stage_current() -> None:
    cv_end = limit(("PV_CHAN_CV_Stage_Current", "<", "0.022"), ("PV_CHAN_CV_StageTime", ">", "1"))
    rec = Recorder(
        [step("CCCV", "CCCV", "2.2", "3.6", limits=[cv_end, after(20000)])], cell=LFP, soc=0.1
    )
    rec.run.start()
    seen_cc = seen_cv = False
    while rec.run.status.is_running:
        rec.run.advance(20)
        if rec.run.status.is_running and not rec.run.cv_stage:
            assert rec.run.current_a == pytest.approx(2.2)
            assert rec.run.voltage_v < 3.6 + 1e-4
            seen_cc = True
        elif rec.run.status.is_running:
            assert rec.run.voltage_v == pytest.approx(3.6, abs=2e-3)
            assert 0.0 < rec.run.current_a < 2.2
            assert rec.run.step_and_cycle_format.endswith("CCCV CV")
            seen_cv = True
    assert seen_cc and seen_cv
    assert rec.ends() == [("CCCV", "PV_CHAN_CV_Stage_Current<0.022 & PV_CHAN_CV_StageTime>1")]
    assert rec.steps[0].charge_capacity_ah == pytest.approx(0.9 * 1.1, rel=0.01)


def test_cccv_discharge_holds_its_low_voltage() -> None:
    cv_end = limit(("PV_CHAN_CV_Stage_Current", ">", "-0.022"), ("PV_CHAN_CV_StageTime", ">", "1"))
    rec = Recorder([step("D", "CCCV", "-4.4", "2", limits=[cv_end])], cell=LFP, soc=0.9).start()
    assert rec.ends()[0][1].startswith("PV_CHAN_CV_Stage_Current>-0.022")
    assert rec.steps[0].discharge_capacity_ah == pytest.approx(0.9 * 1.1, rel=0.01)
    assert rec.run.cell.soc == pytest.approx(0.0, abs=0.01)


def test_internal_resistance_step_updates_the_reading() -> None:
    rec = Recorder(
        [step("IR", "Internal Resistance", "3.96", "30.00", limits=[after(60)])], cell=LFP
    )
    before = rec.run.reading().internal_resistance_ohm
    rec.run.start()
    measured = rec.run.reading().internal_resistance_ohm
    expected = LFP.r0_ohm + LFP.r1_ohm * (1 - 2.718281828 ** (-0.03 / LFP.rc_time_constant_s))
    assert measured == pytest.approx(expected, rel=1e-3) and measured != before
    assert rec.run.current_a == 0.0 and rec.run.status is RunStatus.REST


def test_power_step_draws_power() -> None:
    rec = Recorder([step("P", "Power(W)", "-6", limits=[after(600)])])
    rec.run.start()
    rec.run.advance(100)
    assert rec.run.current_a * rec.run.voltage_v == pytest.approx(-6.0, rel=0.02)


def test_a_control_value_can_follow_a_meta_variable() -> None:
    rec = Recorder([step("MV", "Current(A)", "MV_UD2", limits=[after(600)])])
    rec.run.start()
    assert rec.run.current_a == 0.0
    rec.run.set_meta_variable("MV_UD2", -1.25)
    assert rec.run.current_a == pytest.approx(-1.25)


# -- Set Variable(s) -------------------------------------------------------------------------------


def test_set_variables_masks_reset_increment_and_decrement() -> None:
    steps = [
        step("Charge", "Current(A)", "1", limits=[after(360)]),
        # counters 1 and 2 up twice (bits 1 and 2), counter 3 down (bit 3), cycle index up
        step("Up", "Set Variable(s)", "0", "7", "8"),
        step("Up2", "Set Variable(s)", "0", "6", "0"),
        step("Look", "Rest", limits=[after(10)]),
        # reset charge capacity (bit 0) and TC_Counter1 (bit 16)
        step("Reset", "Set Variable(s)", str(1 | 1 << 16), "0", "0"),
        step("End", "Rest", limits=[after(10)]),
    ]
    rec = Recorder(steps)
    rec.run.settings  # noqa: B018 - the default keeps capacities over a cycle change?
    rec.run = ScheduleRun(
        rec.run.schedule,
        Cell(NMC),
        RunSettings(reset_counters_each_cycle=False),
        on_step=rec.steps.append,
    )
    rec.run.start()
    rec.run.advance(365)
    assert rec.run.step.label == "Look"  # type: ignore[union-attr]
    assert rec.run.counters == (2.0, 2.0, -1.0, 0.0)
    assert rec.run.cycle_index == 2
    assert rec.run.reading().charge_capacity_ah == pytest.approx(0.1)
    rec.run.advance(10)
    assert rec.run.counters == (0.0, 2.0, -1.0, 0.0)
    assert rec.run.reading().charge_capacity_ah == 0.0
    assert [r.label for r in rec.steps] == ["Charge", "Up", "Up2", "Look", "Reset"]
    assert all(r.duration_s == 0.0 for r in rec.steps if r.step_type == "Set Variable(s)")


def test_a_cycle_increment_resets_the_capacities_by_default() -> None:
    steps = [
        step("Charge", "Current(A)", "1", limits=[after(360)]),
        step("Next", "Set Variable(s)", "0", "1", "0"),
        step("Look", "Rest", limits=[after(10)]),
    ]
    rec = Recorder(steps)
    rec.run.start()
    rec.run.advance(365)
    assert rec.run.cycle_index == 2 and rec.run.reading().charge_capacity_ah == 0.0


def test_a_loop_made_of_a_counter_and_a_goto() -> None:
    steps = [
        step("Pulse", "Current(A)", "1", limits=[after(10)]),
        step(
            "Count",
            "Set Variable(s)",
            "0",
            "2",
            "0",
            limits=[
                limit(("TC_Counter1", "<", "3"), goto="Pulse"),
            ],
        ),
        step("Done", "Rest", limits=[after(1)]),
    ]
    rec = Recorder(steps).start()
    assert [r.label for r in rec.steps] == ["Pulse", "Count"] * 3 + ["Done"]
    assert rec.run.counters[0] == 3.0


# -- limits ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ctrl", "sign", "threshold"),
    [("2", ">", "3.9"), ("2", ">=", "3.9"), ("-2", "<", "3.6"), ("-2", "<=", "3.6")],
)
def test_voltage_limits_end_the_step_at_the_threshold(ctrl: str, sign: str, threshold: str) -> None:
    rec = Recorder(
        [step("I", "Current(A)", ctrl, limits=[limit(("PV_CHAN_Voltage", sign, threshold))])]
    )
    rec.run.start()
    while rec.run.status.is_running:
        rec.run.advance(600)
    assert rec.ends() == [("I", f"PV_CHAN_Voltage{sign}{threshold}")]
    last = rec.points[-1]
    assert last.voltage_v == pytest.approx(float(threshold), abs=3e-4)


def test_a_variable_on_the_right() -> None:
    rec = Recorder(
        [step("I", "Current(A)", "1", limits=[limit(("PV_CHAN_Step_Time", ">", "MV_UD1"))])]
    )
    rec.run.set_meta_variable("MV_UD1", 42.0)
    rec.start()
    assert rec.steps[0].duration_s == pytest.approx(42.0)


def test_all_equations_of_a_limit_must_hold() -> None:
    both = limit(
        ("PV_CHAN_Step_Time", ">", "10"),
        ("PV_CHAN_Charge_Capacity", ">", "0.01"),
        ("PV_CHAN_Current", ">", "0"),
    )
    rec = Recorder([step("I", "Current(A)", "1", limits=[both])]).start()
    assert rec.steps[0].duration_s == pytest.approx(36.0, rel=1e-4)  # 0.01 Ah at 1 A


def test_limits_goto_labels_and_end_test() -> None:
    steps = [
        step("A", "Rest", limits=[limit(("PV_CHAN_Step_Time", ">", "1"), goto="C")]),
        step("B", "Rest", limits=[after(1)]),
        step("C", "Rest", limits=[limit(("PV_CHAN_Step_Time", ">", "1"), goto="End Test")]),
        step("D", "Rest", limits=[after(1)]),
    ]
    rec = Recorder(steps).start()
    assert [r.label for r in rec.steps] == ["A", "C"]
    assert rec.run.status is RunStatus.FINISHED


def test_log_limits_mark_data_points_and_do_not_end_the_step() -> None:
    steps = [
        step(
            "I",
            "Current(A)",
            "2",
            limits=[after(100), limit(("DV_Time", ">=", "10"), step=False, log=True)],
        )
    ]
    rec = Recorder(steps).start()
    times = [round(p.test_time_s, 3) for p in rec.points]
    assert times == [10.0 * n for n in range(1, 11)] + [100.0]  # ten logged + the step end
    assert rec.ends() == [("I", "PV_CHAN_Step_Time>=100")]


def test_dv_voltage_and_dv_current_are_changes_since_the_last_point() -> None:
    steps = [
        step(
            "V",
            "Voltage(V)",
            "4.0",
            limits=[
                after(3000),
                limit(("DV_Current", ">", "0.2"), step=False, log=True),
            ],
        ),
        step(
            "I",
            "Current(A)",
            "3",
            limits=[
                after(600),
                limit(("DV_Voltage", ">", "0.02"), step=False, log=True),
            ],
        ),
    ]
    rec = Recorder(steps, soc=0.6).start()
    in_v = [p for p in rec.points if p.step_label == "V"][:-1]
    in_i = [p for p in rec.points if p.step_label == "I"][:-1]
    assert len(in_v) >= 3 and len(in_i) >= 3
    for a, b in itertools.pairwise(in_v):
        assert abs(a.current_a - b.current_a) == pytest.approx(0.2, abs=1e-3)
    for a, b in itertools.pairwise(in_i):
        assert abs(a.voltage_v - b.voltage_v) == pytest.approx(0.02, abs=1e-3)


@pytest.mark.parametrize(
    ("variable", "threshold", "expected_s"),
    [
        ("PV_CHAN_Test_Time", "50", 50.0),
        ("PV_CHAN_Charge_Capacity", "0.05", 90.0),
        ("PV_CHAN_Charge_Energy", "0.1", None),
        ("PV_CHAN_Power", "8.5", None),
        ("PV_CHAN_Current", "1.99", 0.0),
        ("PV_CHAN_Step_Index", "0.5", 0.0),
        ("PV_CHAN_Cycle_Index", "0.5", 0.0),
        ("PV_CHAN_Internal_Resistance", "0.0", 0.0),
    ],
)
def test_channel_variables_in_limits(
    variable: str, threshold: str, expected_s: float | None
) -> None:
    rec = Recorder(
        [step("I", "Current(A)", "2", limits=[limit((variable, ">", threshold)), after(5000)])]
    )
    rec.start()
    assert rec.ends()[0][1] == f"{variable}>{float(threshold):g}"
    if expected_s is not None:
        assert rec.steps[0].duration_s == pytest.approx(expected_s, abs=1e-3)
    else:
        assert 0 < rec.steps[0].duration_s < 5000


def test_discharge_capacity_and_energy_variables() -> None:
    steps = [
        step("D", "Current(A)", "-3", limits=[limit(("PV_CHAN_Discharge_Capacity", ">=", "0.3"))]),
        step("E", "Current(A)", "-3", limits=[limit(("PV_CHAN_Discharge_Energy", ">=", "2"))]),
    ]
    rec = Recorder(steps).start()
    assert rec.steps[0].duration_s == pytest.approx(360.0, rel=1e-4)
    assert rec.steps[1].end_reason == "PV_CHAN_Discharge_Energy>=2"


def test_a_formula_in_a_limit() -> None:
    rec = Recorder(
        [step("R", "Rest", limits=[limit(("Twice", ">=", "30"))])],
        formulas=[("Twice", "2 * PV_CHAN_Step_Time + MV_UD1")],
    )
    rec.run.set_meta_variable(1, 10.0)
    rec.start()
    assert rec.steps[0].duration_s == pytest.approx(10.0)


def test_a_limit_that_holds_on_entry_ends_the_step_at_once() -> None:
    steps = [
        step("Charge", "Current(A)", "1", limits=[after(360)]),
        step("Skip", "Current(A)", "1", limits=[limit(("PV_CHAN_Charge_Capacity", ">", "0.05"))]),
        step("Rest", "Rest", limits=[after(1)]),
    ]
    rec = Recorder(steps).start()
    assert [(r.label, r.duration_s) for r in rec.steps][1] == ("Skip", 0.0)


def test_steps_that_end_at_once_for_ever_stop_the_run() -> None:
    rec = Recorder(
        [step("Spin", "Rest", limits=[limit(("PV_CHAN_Step_Time", ">=", "0"), goto="Spin")])]
    )
    rec.run.start()
    rec.run.advance(1.0)
    assert rec.run.status is RunStatus.STOPPED
    assert rec.run.exit_condition == "Error: steps end without time passing"


# -- safety ----------------------------------------------------------------------------------------


def test_the_voltage_safety_scope_makes_the_channel_unsafe() -> None:
    rec = Recorder(
        [step("Over", "Current(A)", "3", limits=[after(10000)])], safety={"Voltage": (2.5, 4.0)}
    ).start()
    assert rec.run.status is RunStatus.UNSAFE
    assert rec.run.exit_condition == "Safety: PV_CHAN_Voltage>4"
    assert rec.run.voltage_v == pytest.approx(rec.run.cell.ocv_v(), abs=0.05)


def test_the_current_safety_scope_trips_at_once() -> None:
    rec = Recorder(
        [step("Big", "Current(A)", "-6", limits=[after(100)])], safety={"Current": (-5.0, 5.0)}
    ).start()
    assert rec.run.status is RunStatus.UNSAFE
    assert rec.steps[0].duration_s == 0.0
    assert rec.run.exit_condition == "Safety: PV_CHAN_Current<-5"


def test_a_user_defined_safety_scope() -> None:
    rec = Recorder(
        [step("Fill", "Current(A)", "3", limits=[after(10000)])],
        user_safety=[("PV_CHAN_Charge_Capacity", 0.0, 0.5)],
    ).start()
    assert rec.run.status is RunStatus.UNSAFE
    assert rec.run.reading().charge_capacity_ah == pytest.approx(0.5, abs=1e-4)


def test_one_long_advance_catches_up_within_its_budget() -> None:
    """A channel nobody read for long (a server at high speed): one advance call does a bounded
    amount of work; log limits stop cutting sub-steps once the budget is spent."""
    schedule = read_schedule(REFERENCE)
    points: list[DataPoint] = []
    settings = RunSettings(max_substeps_per_advance=200)
    run = ScheduleRun(schedule, Cell(LFP), settings, on_point=points.append)
    run.start()
    run.advance(30 * 3600.0)
    assert run.status.is_running
    assert run.test_time_s == pytest.approx(30 * 3600.0)
    assert run.cycle_index >= 5
    assert len(points) < 8 * 200  # far fewer than the ~10000 a 30 h dry run logs


@pytest.mark.parametrize(("ctrl", "soc"), [("1", 0.999), ("-1", 0.001)])
def test_a_cccv_step_that_starts_past_its_voltage_holds_at_no_current(
    ctrl: str, soc: float
) -> None:
    cv_end = limit(("PV_CHAN_CV_StageTime", ">", "1"), ("PV_CHAN_CV_Stage_Current", "<", "0.022"))
    if ctrl.startswith("-"):
        cv_end = limit(
            ("PV_CHAN_CV_StageTime", ">", "1"), ("PV_CHAN_CV_Stage_Current", ">", "-0.022")
        )
    target = "3.5" if ctrl == "1" else "2.5"
    rec = Recorder(
        [step("S", "CCCV", ctrl, target, limits=[cv_end, after(600)])], cell=LFP, soc=soc
    )
    rec.start(chunk_s=1000.0)
    assert rec.ends()[0][1] == cv_end_text(ctrl)
    assert rec.steps[0].duration_s == pytest.approx(1.0, abs=1e-3)
    assert rec.steps[0].charge_capacity_ah == rec.steps[0].discharge_capacity_ah == 0.0


def cv_end_text(ctrl: str) -> str:
    if ctrl.startswith("-"):
        return "PV_CHAN_CV_StageTime>1 & PV_CHAN_CV_Stage_Current>-0.022"
    return "PV_CHAN_CV_StageTime>1 & PV_CHAN_CV_Stage_Current<0.022"
