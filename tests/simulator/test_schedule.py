"""Schedules (format, parser, loader) and the channel-run engine that executes them."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from pyctiarbin.simulator.cell import Cell, CellParameters
from pyctiarbin.simulator.engine import (
    ChannelNotRunningError,
    ChannelReading,
    ChannelRunningError,
    NoScheduleError,
    RunSettings,
    RunStatus,
    ScheduleRun,
)
from pyctiarbin.simulator.schedule import (
    SHIPPED_SCHEDULES_DIR,
    Comparison,
    CurrentValue,
    LimitQuantity,
    Schedule,
    ScheduleNotFoundError,
    ScheduleParseError,
    StepKind,
    UnknownStepError,
    find_schedule,
    list_schedules,
    load_schedule,
    meta_variable_number,
    parse_schedule,
    read_schedule,
)

SHIPPED = ["CCCV_Charge.sdx", "CC_Discharge.sdx", "Cycle_CCCV.sdx", "MV_Current.sdx", "Rest.sdx"]


# -- helpers -----------------------------------------------------------------------------------


def run_sampled(
    run: ScheduleRun, interval_s: float, max_time_s: float = 50_000.0
) -> list[ChannelReading]:
    """Advance by ``interval_s`` until the run stops; every reading, the first one included."""
    samples = [run.reading()]
    elapsed_s = 0.0
    while run.status.is_running and elapsed_s < max_time_s:
        run.advance(interval_s)
        elapsed_s += interval_s
        samples.append(run.reading())
    return samples


def trapezoid_energy_wh(samples: list[ChannelReading], sign: int) -> float:
    """Integral of V*I over test time from the samples, for currents of one sign."""
    total_ws = 0.0
    for before, after in pairwise(samples):
        dt_s = after.test_time_s - before.test_time_s
        power_before = before.voltage_v * before.current_a * sign
        power_after = after.voltage_v * after.current_a * sign
        total_ws += 0.5 * (max(power_before, 0.0) + max(power_after, 0.0)) * dt_s
    return total_ws / 3600.0


def started(schedule: Schedule | str, *, soc: float = 0.2, **settings: float) -> ScheduleRun:
    if isinstance(schedule, str):
        schedule = load_schedule(schedule)
    run = ScheduleRun(schedule, Cell(soc=soc), RunSettings(**settings))  # type: ignore[arg-type]
    run.start()
    return run


# -- format and parser ---------------------------------------------------------------------------


def test_every_shipped_schedule_parses() -> None:
    assert list_schedules() == sorted(SHIPPED, key=str.casefold)
    for name in SHIPPED:
        schedule = load_schedule(name)
        assert schedule.name == name
        assert schedule.steps and schedule.description
        assert [step.number for step in schedule.steps] == list(range(1, len(schedule.steps) + 1))


def test_cccv_charge_is_parsed_as_written() -> None:
    schedule = load_schedule("CCCV_Charge.sdx")
    cc, cv = schedule.steps
    assert (cc.kind, cc.label, cc.current) == (
        StepKind.CC_CHARGE,
        "CC_Charge",
        CurrentValue(1.0, c_rate=True),
    )
    voltage_limit = cc.limits[0]
    assert voltage_limit.quantity is LimitQuantity.VOLTAGE
    assert voltage_limit.comparison is Comparison.AT_LEAST
    assert (voltage_limit.threshold, voltage_limit.next_step) == (4.2, 2)
    assert cc.limits[1].threshold == 3 * 3600.0 and cc.limits[1].next_step is None
    assert cv.kind is StepKind.CV and cv.voltage_v == 4.2
    current_limit = cv.limits[0]
    assert current_limit.c_rate and current_limit.threshold == pytest.approx(0.05)
    assert current_limit.threshold_value(3.0) == pytest.approx(0.15)
    assert current_limit.describe(3.0) == "Current<=0.15A"


def test_units_targets_and_comments() -> None:
    text = """
    # leading comment
    description = units # trailing comment

    [First]
    kind = cc_discharge
    current = 500 mA
    limit = voltage <= 2750mV -> 3
    limit = time >= 1:30:00 -> last
    limit = discharge_capacity >= 1500 mAh -> end
    limit = capacity >= 2Ah          # next by default

    [second]
    kind = cv
    voltage = 4.1V
    current_limit = 0.5C
    limit = current <= C/50
    limit = step_time >= 30 min -> FIRST

    [Last]
    kind = mv_current
    variable = mv_ud16
    limit = charge_capacity >= 0.25
    limit = time >= 2h -> next
    """
    schedule = parse_schedule(text)
    first, second, last = schedule.steps
    assert schedule.description == "units"
    assert first.current == CurrentValue(0.5)
    assert [limit.threshold for limit in first.limits] == [2.75, 5400.0, 1.5, 2.0]
    assert [limit.next_step for limit in first.limits] == [3, 3, None, 2]
    assert second.current_limit == CurrentValue(0.5, c_rate=True)
    assert second.limits[0].threshold == pytest.approx(0.02) and second.limits[0].c_rate
    assert second.limits[1].quantity is LimitQuantity.TIME
    assert second.limits[1].threshold == 1800.0 and second.limits[1].next_step == 1
    assert last.variable == "MV_UD16"
    assert last.limits[1].next_step is None  # "next" after the last step is the end
    assert schedule.step_number("SECOND") == 2 and schedule.step_number("3") == 3
    with pytest.raises(UnknownStepError):
        schedule.step_number("nope")
    with pytest.raises(UnknownStepError):
        schedule.step(4)


BAD_SCHEDULES = [
    ("[A]\nkind = rest\nlimit = time >= 1 h -> Nowhere\n", 3, "no step labelled 'Nowhere'"),
    ("[A]\nkind = cc\n", 2, "unknown step kind 'cc'"),
    ("[A]\nkind = rest\n\n[B]\ncurrent = 1A\n", 4, "has no 'kind'"),
    ("[A]\nkind = cc_charge\n", 1, "needs 'current = ...'"),
    ("[A]\nkind = cc_charge\ncurrent = -1A\n", 3, "must be positive"),
    ("[A]\nkind = cc_charge\ncurrent = 2 parsecs\n", 3, "unknown unit 'parsecs'"),
    ("[A]\nkind = cv\nvoltage = 4.2\ncurrent = 1A\n", 4, "not valid in a cv step"),
    ("[A]\nkind = rest\nkind = rest\n", 3, "given twice"),
    ("[A]\nkind = rest\n[a]\nkind = rest\n", 3, "duplicate step label"),
    ("[A]\nkind = rest\nlimit = voltage > 4.2\n", 3, "must be '>=' or '<='"),
    ("[A]\nkind = rest\nlimit = time <= 10\n", 3, "only takes '>='"),
    ("[A]\nkind = rest\nlimit = temperature >= 40\n", 3, "unknown limit quantity"),
    ("[A]\nkind = rest\nlimit = voltage >= 4.2 ->\n", 3, "no target"),
    ("[A]\nkind = rest\nlimit = voltage >= 4.2 -> 7\n", 3, "no step 7"),
    ("[A]\nkind = rest\nlimit = voltage >= 4.2 V V\n", 3, "voltage '4.2 V V'"),
    ("[A]\nkind = loop\ngoto = A\ncycles = 0\n", 4, "cycles must be an integer >= 1"),
    ("[A]\nkind = loop\ngoto = next\ncycles = 2\n", 3, "must be a step label or number"),
    ("[A]\nkind = loop\ngoto = A\ncycles = 2\nlimit = time >= 1\n", 5, "takes no limits"),
    ("[A]\nkind = mv_current\nvariable = MV_UD17\n", 3, "MV_UD17"),
    ("[A]\nkind = rest\njust some words\n", 3, "expected '[Label]' or 'key = value'"),
    ("[A\nkind = rest\n", 1, "must end with ']'"),
    ("[1st]\nkind = rest\n", 1, "must start with a letter"),
    ("[End]\nkind = rest\n", 1, "reserved"),
    ("[" + "x" * 33 + "]\nkind = rest\n", 1, "longer than 32"),
    ("kind = rest\n[A]\nkind = rest\n", 1, "only 'description' may come before"),
    ("[A]\nkind =\n", 2, "'kind' has no value"),
]


@pytest.mark.parametrize(("text", "line", "problem"), BAD_SCHEDULES)
def test_parse_errors_name_file_line_and_problem(text: str, line: int, problem: str) -> None:
    with pytest.raises(ScheduleParseError) as caught:
        parse_schedule(text, source="lab/bad.sdx")
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.source, error.line) == ("lab/bad.sdx", line)
    assert problem in error.problem
    assert str(error).startswith(f"lab/bad.sdx, line {line}: ")


def test_a_schedule_without_steps_is_an_error() -> None:
    with pytest.raises(ScheduleParseError, match=r"^empty\.sdx: no steps"):
        parse_schedule("# nothing\ndescription = x\n", source="empty.sdx")


def test_read_schedule_accepts_a_bom_and_rejects_bad_utf8(tmp_path: Path) -> None:
    good = tmp_path / "Bom.sdx"
    good.write_bytes(b"\xef\xbb\xbf[A]\r\nkind = rest\r\n")
    assert read_schedule(good).steps[0].kind is StepKind.REST
    bad = tmp_path / "Bad.sdx"
    bad.write_bytes(b"[A]\nkind = rest\n# caf\xe9\n")
    with pytest.raises(ScheduleParseError, match=r"Bad\.sdx, line 3: not valid UTF-8"):
        read_schedule(bad)


def test_loader_prefers_the_user_directory_and_ignores_case(tmp_path: Path) -> None:
    user_dir = tmp_path / "user"
    user_dir.mkdir()
    (user_dir / "Rest.sdx").write_text("[Mine]\nkind = rest\n", encoding="utf-8")
    (user_dir / "Pulse.SDX").write_text("[P]\nkind = cc_charge\ncurrent = 1A\n", encoding="utf-8")
    (user_dir / "notes.txt").write_text("not a schedule", encoding="utf-8")
    dirs = [tmp_path / "missing", user_dir]
    assert load_schedule("rest.sdx", dirs).steps[0].label == "Mine"
    assert load_schedule("REST", []).steps[0].label == "Rest"
    assert load_schedule("pulse", dirs).name == "Pulse.SDX"
    assert find_schedule("cccv_charge.SDX", dirs) == SHIPPED_SCHEDULES_DIR / "CCCV_Charge.sdx"
    names = list_schedules(dirs)
    assert "Pulse.SDX" in names and "notes.txt" not in names
    assert len([name for name in names if name.casefold() == "rest.sdx"]) == 1
    for bad_name in ["Nope.sdx", "../user/Rest.sdx", "..", "", "C:Rest.sdx"]:
        with pytest.raises(ScheduleNotFoundError):
            load_schedule(bad_name, dirs)


def test_meta_variable_names() -> None:
    assert meta_variable_number("MV_UD1") == 1
    assert meta_variable_number(" mv_ud16 ") == 16
    assert meta_variable_number(7) == 7
    bad_names: list[str | int] = ["MV_UD0", "MV_UD17", "MV1", 0, 17]
    for bad in bad_names:
        with pytest.raises(ValueError):
            meta_variable_number(bad)


# -- the engine: physics through schedules -------------------------------------------------------


def test_cccv_charge_reaches_the_limit_and_tapers() -> None:
    run = started("CCCV_Charge.sdx")
    samples = run_sampled(run, 10.0)
    assert run.status is RunStatus.FINISHED
    assert run.exit_condition == "Current<=0.15A"
    cc = [s for s in samples if s.step_number == 1 and s.status is RunStatus.CHARGE]
    cv = [s for s in samples if s.step_number == 2 and s.status is RunStatus.CHARGE]
    assert len(cc) > 100 and len(cv) > 30
    assert all(s.current_a == pytest.approx(3.0) for s in cc)
    assert max(s.voltage_v for s in cc) <= 4.2 + 1e-3
    assert cc[-1].voltage_v > 4.15
    assert all(s.voltage_v == pytest.approx(4.2, abs=1e-3) for s in cv)
    currents = [s.current_a for s in cv]
    assert all(later <= earlier + 1e-3 for earlier, later in pairwise(currents))
    assert currents[0] > 2.0 and 0.14 < currents[-1] < 0.2
    assert samples[-1].current_a == 0.0 and samples[-1].step_and_cycle_format.endswith("CV")
    capacities = [s.charge_capacity_ah for s in samples]
    assert all(later >= earlier for earlier, later in pairwise(capacities))
    assert 2.0 < capacities[-1] < 3.0  # from 20 % SOC
    assert run.cell.soc > 0.95
    assert samples[-1].discharge_capacity_ah == 0.0


@pytest.mark.parametrize(("name", "sign"), [("CCCV_Charge.sdx", 1), ("CC_Discharge.sdx", -1)])
def test_energy_is_the_integral_of_v_times_i(name: str, sign: int) -> None:
    run = started(name, soc=0.2 if sign > 0 else 0.95)
    samples = run_sampled(run, 5.0)
    last = samples[-1]
    reported_wh = last.charge_energy_wh if sign > 0 else last.discharge_energy_wh
    capacity_ah = last.charge_capacity_ah if sign > 0 else last.discharge_capacity_ah
    assert reported_wh == pytest.approx(trapezoid_energy_wh(samples, sign), rel=0.01)
    # and, for scale, about capacity times a mean voltage of a Li-ion cell
    assert 3.4 < reported_wh / capacity_ah < 4.1


def test_large_advances_give_the_same_result_as_small_ones() -> None:
    fine = started("Cycle_CCCV.sdx")
    run_sampled(fine, 1.0, max_time_s=100_000.0)
    coarse = started("Cycle_CCCV.sdx")
    for _ in range(10):
        coarse.advance(10_000.0)
    assert fine.status is coarse.status is RunStatus.FINISHED
    for field in ("charge_capacity_ah", "discharge_capacity_ah", "charge_energy_wh"):
        assert getattr(coarse.reading(), field) == pytest.approx(
            getattr(fine.reading(), field), rel=5e-3
        )
    assert coarse.test_time_s == pytest.approx(fine.test_time_s, rel=5e-3)


def test_temperature_rises_under_load_and_relaxes_at_rest() -> None:
    run = started("CC_Discharge.sdx", soc=1.0)
    samples = run_sampled(run, 60.0)
    ambient_c = run.cell.parameters.ambient_temperature_c
    assert samples[0].temperature_c == pytest.approx(ambient_c)
    assert samples[-1].temperature_c > ambient_c + 3.0
    assert run.status is RunStatus.FINISHED
    peak_c = samples[-1].temperature_c
    relaxing = []
    for _ in range(30):
        run.advance(300.0)
        relaxing.append(run.reading())
    temperatures = [r.temperature_c for r in relaxing]
    assert all(later < earlier for earlier, later in pairwise(temperatures))
    assert temperatures[-1] < ambient_c + 0.2 * (peak_c - ambient_c)
    # the voltage recovers at rest; a finished test's clocks stand still
    voltages = [r.voltage_v for r in relaxing]
    assert all(later >= earlier for earlier, later in pairwise(voltages))
    assert voltages[-1] > 2.8 + 0.1
    assert relaxing[-1].test_time_s == samples[-1].test_time_s


def test_mv_current_follows_the_meta_variable() -> None:
    run = started("MV_Current.sdx", soc=0.5)
    assert run.status is RunStatus.REST and run.current_a == 0.0
    run.set_meta_variable("MV_UD1", 1.5)
    assert run.current_a == 1.5 and run.reading().status is RunStatus.CHARGE  # applied at once
    run.advance(600.0)
    reading = run.reading()
    assert reading.current_a == 1.5 and reading.charge_capacity_ah == pytest.approx(0.25)
    run.set_meta_variable("mv_ud1", -2.0)
    run.advance(60.0)
    assert run.current_a == -2.0 and run.reading().status is RunStatus.DISCHARGE
    run.set_meta_variable(2, 5.0)  # another variable: no effect
    run.advance(60.0)
    assert run.current_a == -2.0
    run.set_meta_variable(1, 100.0)  # clamped to the step's current_limit of 2C
    run.advance(1.0)
    assert run.current_a == pytest.approx(6.0)
    run.advance(3600.0)  # until the 4.2 V limit ends the test
    assert run.reading().status is RunStatus.FINISHED
    assert run.exit_condition == "Voltage>=4.2V"
    assert run.meta_variables[:2] == (100.0, 5.0) and run.meta_variable("MV_UD2") == 5.0
    with pytest.raises(ValueError):
        run.set_meta_variable("MV_UD17", 1.0)
    with pytest.raises(ValueError):
        run.set_meta_variable("MV_UD1", float("nan"))


def test_cycle_cccv_runs_three_cycles() -> None:
    run = started("Cycle_CCCV.sdx")
    samples = run_sampled(run, 30.0)
    assert run.status is RunStatus.FINISHED and run.cycle_index == 3
    assert sorted({s.cycle_index for s in samples}) == [1, 2, 3]
    discharges = {(s.cycle_index, s.step_number) for s in samples if s.current_a < 0}
    assert discharges == {(1, 4), (2, 4), (3, 4)}
    # counters restart with each cycle; a full discharge is close to the nominal capacity
    last_of_cycle_1 = [s for s in samples if s.cycle_index == 1][-1]
    first_of_cycle_2 = next(s for s in samples if s.cycle_index == 2)
    assert last_of_cycle_1.discharge_capacity_ah > 2.8
    assert first_of_cycle_2.discharge_capacity_ah == 0.0
    assert first_of_cycle_2.step_and_cycle_format == "[2] 1: CC_Charge, CC_Charge"


def test_loop_counts_cycles_exactly() -> None:
    schedule = parse_schedule(
        "[Wait]\nkind = rest\nlimit = time >= 10 s\n"
        "[Again]\nkind = loop\ngoto = Wait\ncycles = 5\n"
        "[Tail]\nkind = rest\nlimit = time >= 1 s -> end\n"
    )
    run = ScheduleRun(schedule)
    run.start()
    cycles_seen = set()
    for _ in range(100):
        run.advance(3.0)
        cycles_seen.add(run.cycle_index)
    assert cycles_seen == {1, 2, 3, 4, 5}
    assert run.status is RunStatus.FINISHED
    assert run.test_time_s == pytest.approx(51.0)
    assert run.step_and_cycle_format == "[5] 3: Tail, Rest"


def test_capacity_limit_and_goto_by_label() -> None:
    schedule = parse_schedule(
        "[Charge]\nkind = cc_charge\ncurrent = 2A\nlimit = charge_capacity >= 0.5 Ah -> Done\n"
        "[Skipped]\nkind = rest\n"
        "[Done]\nkind = rest\nlimit = time >= 60 -> end\n"
    )
    run = started(schedule)
    seen_steps = {s.step_number for s in run_sampled(run, 100.0)}
    assert seen_steps == {1, 3}
    assert run.reading().charge_capacity_ah == pytest.approx(0.5, rel=1e-6)
    assert run.test_time_s == pytest.approx(900.0 + 60.0)


# -- the engine: control ---------------------------------------------------------------------------


def test_pause_freezes_time_and_resume_continues() -> None:
    run = started("CCCV_Charge.sdx")
    run.advance(600.0)
    before = run.reading()
    run.pause()
    assert run.status is RunStatus.PAUSED and run.current_a == 0.0
    run.advance(1200.0)
    paused = run.reading()
    assert (paused.test_time_s, paused.step_time_s) == (before.test_time_s, before.step_time_s)
    assert paused.charge_capacity_ah == before.charge_capacity_ah
    assert paused.voltage_v < before.voltage_v  # no current: the cell relaxes
    with pytest.raises(ChannelNotRunningError):
        run.pause()
    run.resume()
    assert run.reading().status is RunStatus.CHARGE and run.current_a == 3.0
    run.advance(60.0)
    assert run.test_time_s == pytest.approx(660.0) and run.step_time_s == pytest.approx(660.0)
    with pytest.raises(ChannelRunningError):
        run.resume()


def test_stop_and_resume_after_stop() -> None:
    run = started("CC_Discharge.sdx", soc=0.9)
    run.advance(300.0)
    run.stop()
    assert run.status is RunStatus.STOPPED and run.exit_condition == "Stop"
    run.advance(300.0)
    assert run.test_time_s == pytest.approx(300.0) and run.current_a == 0.0
    with pytest.raises(ChannelNotRunningError):
        run.stop()
    with pytest.raises(ChannelNotRunningError):
        run.jump(1)
    run.resume()
    assert run.reading().status is RunStatus.DISCHARGE
    run.advance(300.0)
    assert run.test_time_s == pytest.approx(600.0)


def test_jump_goes_to_a_step_now() -> None:
    run = started("Cycle_CCCV.sdx")
    run.advance(100.0)
    run.jump("CC_Discharge")
    reading = run.reading()
    assert (reading.step_number, reading.step_label, reading.step_time_s) == (
        4,
        "CC_Discharge",
        0.0,
    )
    assert reading.status is RunStatus.DISCHARGE and reading.current_a == -3.0
    assert reading.exit_condition == "Jump to step 4"
    assert reading.test_time_s == pytest.approx(100.0)
    run.pause()
    run.jump(3)  # a paused channel stays paused
    assert run.status is RunStatus.PAUSED and run.step_number == 3
    run.resume()
    assert run.reading().status is RunStatus.REST
    with pytest.raises(UnknownStepError):
        run.jump(99)
    with pytest.raises(UnknownStepError):
        run.jump("Missing")


def test_start_assign_and_state_errors() -> None:
    run = ScheduleRun()
    assert run.status is RunStatus.IDLE
    reading = run.reading()
    assert (reading.step_number, reading.cycle_index, reading.step_and_cycle_format) == (0, 0, "")
    assert reading.schedule_name == "" and reading.current_a == 0.0
    with pytest.raises(NoScheduleError):
        run.start()
    for command in (run.pause, run.stop, run.resume):
        with pytest.raises(ChannelNotRunningError):
            command()
    run.set_meta_variable("MV_UD3", 2.5)  # allowed while idle
    run.advance(10.0)  # an idle channel rests
    assert run.test_time_s == 0.0
    run.assign_schedule(load_schedule("Cycle_CCCV.sdx"))
    with pytest.raises(UnknownStepError):
        run.start(step=7)
    assert run.status is RunStatus.IDLE
    run.start(step="Rest_Charged")
    assert run.step_number == 3 and run.cycle_index == 1 and run.reading().status is RunStatus.REST
    with pytest.raises(ChannelRunningError):
        run.start()
    with pytest.raises(ChannelRunningError):
        run.assign_schedule(load_schedule("Rest.sdx"))
    run.stop()
    run.assign_schedule(load_schedule("Rest.sdx"))
    run.start()
    assert run.test_time_s == 0.0 and run.reading().schedule_name == "Rest.sdx"
    assert run.meta_variable(3) == 2.5
    with pytest.raises(ValueError):
        run.advance(-1.0)


def test_texts_are_short_ascii() -> None:
    label = "L" * 32
    schedule = parse_schedule(
        f"[{label}]\nkind = cc_discharge\ncurrent = 1A\nlimit = discharge_capacity >= 1 mAh\n"
        "[Loop]\nkind = loop\ngoto = 1\ncycles = 1000000\n"
    )
    run = started(schedule, max_instant_transitions=10_000_000)
    run.advance(20_000.0)  # hundreds of cycles
    texts = [run.step_and_cycle_format, run.exit_condition]
    assert run.cycle_index > 100
    for text in texts:
        assert text.isascii() and len(text) < 64
    assert run.step_and_cycle_format.endswith(f"1: {label}, CC_Discharge")


def test_safety_limit_ends_the_test_as_unsafe() -> None:
    schedule = parse_schedule("[Push]\nkind = mv_current\nvariable = MV_UD1\n")
    run = started(schedule, soc=0.9)
    run.set_meta_variable(1, 6.0)
    run.advance(7200.0)
    assert run.status is RunStatus.UNSAFE
    assert run.exit_condition == "Safety: Voltage>=5V"
    assert run.current_a == 0.0
    with pytest.raises(ChannelNotRunningError):
        run.resume()


def test_steps_that_end_at_once_do_not_hang() -> None:
    schedule = parse_schedule(
        "[A]\nkind = rest\nlimit = time >= 0 s -> B\n[B]\nkind = rest\nlimit = time >= 0 -> A\n"
    )
    run = started(schedule)
    run.advance(10.0)
    assert run.status is RunStatus.STOPPED
    assert run.exit_condition.startswith("Error:")


def test_cv_step_clamps_then_holds() -> None:
    schedule = parse_schedule(
        "[Hold]\nkind = cv\nvoltage = 4.0 V\ncurrent_limit = 2 A\nlimit = current <= 0.1 A\n"
    )
    run = started(schedule, soc=0.3)
    assert run.current_a == 2.0 and run.voltage_v < 4.0  # far from 4.0 V: current-limited
    samples = run_sampled(run, 20.0)
    held = [s for s in samples if s.status is RunStatus.CHARGE and s.current_a < 1.99]
    assert held and all(s.voltage_v == pytest.approx(4.0, abs=1e-3) for s in held)
    assert run.status is RunStatus.FINISHED


def test_cv_can_discharge_to_hold_a_lower_voltage() -> None:
    schedule = parse_schedule("[Down]\nkind = cv\nvoltage = 3.6\nlimit = time >= 1 h\n")
    run = started(schedule, soc=0.8)
    run.advance(10.0)  # 13 A would be needed: the channel gives its maximum
    assert run.status is RunStatus.DISCHARGE and run.current_a == -10.0
    assert run.voltage_v > 3.6
    run.advance(600.0)
    assert run.status is RunStatus.DISCHARGE and -10.0 < run.current_a < 0.0
    assert run.voltage_v == pytest.approx(3.6, abs=1e-3)


def test_many_channels_are_cheap() -> None:
    """A coarse work bound: a day of cycling in hour-long advances takes few sub-steps."""
    settings = RunSettings(max_substeps_per_advance=50)
    run = ScheduleRun(load_schedule("Cycle_CCCV.sdx"), Cell(CellParameters(), soc=0.2), settings)
    run.start()
    calls = 0
    original = run._substep  # counting the engine's own work

    def counting(*args: object) -> float:
        nonlocal calls
        calls += 1
        return original(*args)  # type: ignore[arg-type]

    run._substep = counting  # type: ignore[method-assign, assignment]
    for _ in range(24):
        run.advance(3600.0)
    assert run.status is RunStatus.FINISHED
    assert calls < 250  # about 40 per cycle
