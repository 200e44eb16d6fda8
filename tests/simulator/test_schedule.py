"""MITS schedule files: the parser, the checks, the loader (no engine here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyctiarbin.simulator.cell import CELL_PRESETS, CellParameters, load_cell_parameters
from pyctiarbin.simulator.schedule import (
    SHIPPED_SCHEDULES_DIR,
    Equation,
    ScheduleNotFoundError,
    ScheduleParseError,
    StepType,
    check_schedule,
    find_schedule,
    list_schedules,
    load_schedule,
    meta_variable_number,
    parse_expression,
    parse_schedule,
    read_schedule,
)
from schedule_reference import REFERENCE, REFERENCE_LABELS

from .mits import limit, mits_text, step

TIME_10 = limit(("PV_CHAN_Step_Time", ">=", "10"))


def problems_of(text: str) -> list[str]:
    with pytest.raises(ScheduleParseError) as caught:
        parse_schedule(text, source="lab/bad.sdx")
    assert str(caught.value).startswith("lab/bad.sdx: ")
    return [str(problem) for problem in caught.value.problems]


# -- the real file ---------------------------------------------------------------------------------


def test_the_reference_file_is_latin1_with_bytes_that_are_not_utf8() -> None:
    data = REFERENCE.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")


def test_the_reference_file_parses_as_mits_wrote_it() -> None:
    schedule = read_schedule(REFERENCE)
    assert schedule.name == "20170630-3_6C_9per_5C.sdu"
    assert schedule.version == "Schedule Version 7.00.13"
    assert [s.label for s in schedule.steps] == REFERENCE_LABELS
    assert [s.number for s in schedule.steps] == list(range(1, 16))
    types = {s.label: s.step_type for s in schedule.steps}
    assert types["pulse charge"] is StepType.C_RATE
    assert types["Initial Rest"] is StepType.REST
    assert types["first IR"] is StepType.INTERNAL_RESISTANCE
    assert types["CC1"] is StepType.CCCV
    assert types["Loop"] is StepType.SET_VARIABLES
    cc1 = schedule.steps[7]
    assert (cc1.ctrl_value, cc1.ext_value1, cc1.section) == (3.96, 3.6, "Schedule_Step7")
    assert len(cc1.limits) == 6
    cv_end = cc1.limits[0]
    assert cv_end.step_limit and not cv_end.log_limit and cv_end.goto == 9
    assert cv_end.equations == (
        Equation("PV_CHAN_CV_Stage_Current", "<", 0.022),
        Equation("PV_CHAN_CV_StageTime", ">", 1.0),
    )
    log_every_5s = cc1.limits[2]
    assert not log_every_5s.step_limit and log_every_5s.log_limit
    assert log_every_5s.equations == (Equation("DV_Time", ">", 5.0),)
    loop = schedule.steps[14]
    assert (loop.reset_mask, loop.increment_mask, loop.decrement_mask) == (15, 1, 0)
    assert loop.limits[0].goto == 8 and loop.limits[0].goto_text == "CC1"
    low_q = schedule.steps[13].limits[0]
    assert low_q.goto is None and low_q.goto_text == "End Test"
    assert low_q.equations == (Equation("PV_CHAN_Discharge_Capacity", "<=", 0.825),)
    scopes = {(s.variable, s.min_value, s.max_value) for s in schedule.safety}
    assert scopes == {("PV_CHAN_Voltage", 1.8, 4.0), ("PV_CHAN_Current", -5.0, 10.0)}
    assert check_schedule(schedule) == []


def test_lf_line_ends_and_unknown_keys_are_accepted() -> None:
    text = mits_text([step("Only", "Rest", limits=[TIME_10])]).replace("\r\n", "\n")
    text = text.replace("[Schedule]\n", "[Schedule]\nm_szSomethingNew=\xe9\xe8 whatever^1\n")
    text += "[Some Future Section]\nm_x=1\n"
    schedule = parse_schedule(text)
    assert [s.label for s in schedule.steps] == ["Only"]
    # Kept (and ignored): every key of the file is in Schedule.sections as written.
    assert schedule.sections["Schedule"]["m_szSomethingNew"] == "\xe9\xe8 whatever^1"
    assert schedule.sections["Some Future Section"] == {"m_x": "1"}


# -- steps -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step_type", "ctrl", "ext1", "expected"),
    [
        ("Rest", "", "", StepType.REST),
        ("Current(A)", "-1.5", "", StepType.CURRENT),
        ("C-Rate", "0.5", "", StepType.C_RATE),
        ("Voltage(V)", "3.9", "", StepType.VOLTAGE),
        ("CCCV", "1", "4.2", StepType.CCCV),
        ("Internal Resistance", "2", "30.00", StepType.INTERNAL_RESISTANCE),
        ("Power(W)", "-5", "", StepType.POWER),
        ("current(a)", "MV_UD3", "", StepType.CURRENT),
    ],
)
def test_each_step_type(step_type: str, ctrl: str, ext1: str, expected: StepType) -> None:
    schedule = parse_schedule(mits_text([step("S", step_type, ctrl, ext1, limits=[TIME_10])]))
    parsed = schedule.steps[0]
    assert parsed.step_type is expected
    if ctrl.upper().startswith("MV_"):
        assert parsed.ctrl_value == "MV_UD3"
    elif ctrl:
        assert parsed.ctrl_value == float(ctrl)


def test_an_unknown_step_type_is_refused_naming_the_step_and_the_type() -> None:
    text = mits_text([step("Warm", "Rest", limits=[TIME_10]), step("Zap", "Pulse(A)", "1")])
    assert problems_of(text) == [
        "[Schedule_Step1] m_szStepCtrlType: step 2 'Zap': unknown step type 'Pulse(A)' (the"
        " simulator runs Rest, Current(A), C-Rate, Voltage(V), CCCV, Internal Resistance,"
        " Set Variable(s), Power(W))"
    ]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([step("S", "Current(A)", "")], "[Schedule_Step0] m_szCtrlValue: step 1 'S': a Current(A)"),
        ([step("S", "Current(A)", "lots")], "[Schedule_Step0] m_szCtrlValue: 'lots' is neither"),
        ([step("S", "CCCV", "1", "")], "[Schedule_Step0] m_szExtCtrlValue1: step 1 'S': a CCCV"),
        ([step("S", "CCCV", "0", "4")], "[Schedule_Step0] m_szCtrlValue: step 1 'S': a CCCV step"),
        ([step("S", "Voltage(V)", "-1")], "[Schedule_Step0] m_szCtrlValue: step 1 'S': the volt"),
        ([step("S", "Current(A)", "nan")], "[Schedule_Step0] m_szCtrlValue: 'nan' is not a finite"),
        ([step("S", "Set Variable(s)", "1.5")], "[Schedule_Step0] m_szCtrlValue: a bit mask"),
        ([step("S", "Set Variable(s)", "0", "2097152")], "[Schedule_Step0] m_szExtCtrlValue1: a"),
        ([step("S", "Rest"), step("s", "Rest")], "[Schedule_Step1] m_szLabel: label 's' is also"),
    ],
)
def test_bad_step_values_name_section_and_key(
    steps: list[dict[str, object]], expected: str
) -> None:
    assert problems_of(mits_text(steps))[0].startswith(expected)


def test_set_variable_masks() -> None:
    schedule = parse_schedule(mits_text([step("Loop", "Set Variable(s)", "983055", "31", "6")]))
    loop = schedule.steps[0]
    assert (loop.reset_mask, loop.increment_mask, loop.decrement_mask) == (983055, 31, 6)
    assert not loop.step_type.takes_time


# -- limits ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("sign", [">", ">=", "<", "<="])
def test_each_compare_sign(sign: str) -> None:
    text = mits_text([step("S", "Rest", limits=[limit(("PV_CHAN_Voltage", sign, "3.5"))])])
    assert parse_schedule(text).steps[0].limits[0].equations[0].sign == sign


def test_right_hand_sides_are_numbers_or_variables_and_names_are_case_blind() -> None:
    text = mits_text(
        [
            step(
                "S",
                "Rest",
                limits=[
                    limit(
                        ("pv_chan_voltage", ">=", "mv_ud2"),
                        ("DV_TIME", "<", "1e3"),
                        ("tc_counter4", ">", "Twice"),
                    )
                ],
            )
        ],
        formulas=[("Twice", "2 * PV_CHAN_Step_Time")],
    )
    equations = parse_schedule(text).steps[0].limits[0].equations
    assert equations == (
        Equation("PV_CHAN_Voltage", ">=", "MV_UD2"),
        Equation("DV_Time", "<", 1000.0),
        Equation("TC_Counter4", ">", "Twice"),
    )


def test_gotos_next_step_end_test_and_labels() -> None:
    text = mits_text(
        [
            step("A", "Rest", limits=[limit(("PV_CHAN_Step_Time", ">", "1"), goto="c")]),
            step("B", "Rest", limits=[limit(("PV_CHAN_Step_Time", ">", "1"), goto="End Test")]),
            step("C", "Rest", limits=[limit(("PV_CHAN_Step_Time", ">", "1"), goto="Next Step")]),
        ]
    )
    a, b, c = parse_schedule(text).steps
    assert a.limits[0].goto == 3
    assert b.limits[0].goto is None
    assert c.limits[0].goto is None  # Next Step after the last step: the test ends


@pytest.mark.parametrize(
    ("equation", "goto", "expected"),
    [
        (("PV_CHAN_Voltge", ">", "1"), "Next Step", "Equation0_szLeft: unknown variable 'PV_CHA"),
        (("PV_CHAN_Voltage", "=", "1"), "Next Step", "Equation0_szCompareSign: compare sign must"),
        (("PV_CHAN_Voltage", ">", ""), "Next Step", "Equation0_szRight: the right-hand side is"),
        (("PV_CHAN_Voltage", ">", "MV_UD17"), "Next Step", "Equation0_szRight: 'MV_UD17' is nei"),
        (("PV_CHAN_Voltage", ">", "1"), "Nowhere", "m_szGotoStep: goto 'Nowhere': no step has"),
        (
            ("TC_Counter5", ">", "1"),
            "Next Step",
            "Equation0_szLeft: unknown variable 'TC_Counter5'",
        ),
    ],
)
def test_bad_limits_name_section_and_key(
    equation: tuple[str, str, str], goto: str, expected: str
) -> None:
    text = mits_text([step("S", "Rest", limits=[limit(equation, goto=goto)])])
    found = problems_of(text)
    assert len(found) == 1 and found[0].startswith(f"[Schedule_Step0_Limit0] {expected}")


def test_every_problem_is_listed() -> None:
    text = mits_text(
        [
            step("A", "Teleport", limits=[TIME_10]),
            step("B", "Rest", limits=[limit(("Nope", ">", "1"), goto="Z")]),
        ]
    )
    found = problems_of(text)
    assert len(found) == 3
    assert found[0].startswith("[Schedule_Step0] m_szStepCtrlType")
    assert found[1].startswith("[Schedule_Step1_Limit0] Equation0_szLeft: unknown variable 'Nope'")
    assert found[2].startswith("[Schedule_Step1_Limit0] m_szGotoStep: goto 'Z'")


def test_structure_problems() -> None:
    assert problems_of("[Schedule_Step0]\r\nm_szLabel=x\r\n") == [
        "[Schedule]: missing: not a MITS schedule file"
    ]
    no_steps = mits_text([]).replace("m_uStepNum=0", "m_uStepNum=0")
    assert "the schedule has no steps" in problems_of(no_steps)[0]
    gap = mits_text([step("A", "Rest", limits=[TIME_10])]).replace(
        "Schedule_Step0", "Schedule_Step1"
    )
    assert any("without gaps" in p for p in problems_of(gap))
    count = mits_text([step("A", "Rest", limits=[TIME_10])]).replace(
        "m_uLimitNum=1", "m_uLimitNum=2"
    )
    assert any("m_uLimitNum: step 1 'A': says 2 limits" in p for p in problems_of(count))
    twice = mits_text([step("A", "Rest", limits=[TIME_10])]) + "[Schedule_Step0]\r\n"
    assert any("section appears twice" in p for p in problems_of(twice))


# -- formulas and safety ---------------------------------------------------------------------------


def test_formulas_compile_and_read_variables() -> None:
    values = {"PV_CHAN_Voltage": 3.0, "MV_UD1": 2.0}

    def known(name: str) -> str | None:
        return {"pv_chan_voltage": "PV_CHAN_Voltage", "mv_ud1": "MV_UD1"}.get(name.lower())

    expression = parse_expression("abs(-PV_CHAN_Voltage) * 2 ^ 2 + max(MV_UD1, 1) / 4", known)
    assert expression.variables == ("PV_CHAN_Voltage", "MV_UD1")
    assert expression.evaluate(values.__getitem__) == pytest.approx(12.5)
    nan = parse_expression("1 / (MV_UD1 - 2)", known).evaluate(values.__getitem__)
    assert nan != nan


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("__import__('os').system('true')", "Call is not allowed"),
        ("PV_CHAN_Voltage.real", "Attribute is not allowed"),
        ("(lambda: 1)()", "Call is not allowed"),
        ("[1, 2]", "List is not allowed"),
        ("'text'", "Constant is not allowed"),
        ("1 < 2", "Compare is not allowed"),
        ("Bogus + 1", "unknown variable 'Bogus'"),
        ("1 +", "does not parse"),
        ("", "empty expression"),
        ("-" * 40 + "1", "nested too deeply"),
        ("-" * 500 + "1", "nested too deeply"),
        ("1" + "+1" * 300, "longer than 512"),
    ],
)
def test_formulas_only_take_arithmetic(expression: str, expected: str) -> None:
    text = mits_text([step("S", "Rest", limits=[TIME_10])], formulas=[("F", expression)])
    found = problems_of(text)
    assert found[0].startswith("[Schedule_Formula0] m_szExpression: ")
    assert expected in found[0]


def test_a_formula_reads_formulas_defined_before_it() -> None:
    ok = mits_text(
        [step("S", "Rest", limits=[limit(("G", ">", "1"))])],
        formulas=[("F", "PV_CHAN_Step_Time"), ("G", "F * 2")],
    )
    assert [f.label for f in parse_schedule(ok).formulas] == ["F", "G"]
    loop = mits_text([step("S", "Rest", limits=[TIME_10])], formulas=[("F", "G"), ("G", "F")])
    assert "unknown variable 'G'" in problems_of(loop)[0]


def test_safety_scopes() -> None:
    text = mits_text(
        [step("S", "Rest", limits=[TIME_10])],
        safety={"Voltage": (2.0, 3.7), "Power": (-20.0, 20.0)},
        user_safety=[("PV_CHAN_Charge_Capacity", 0.0, 1.2)],
    )
    scopes = [
        (s.variable, s.min_value, s.max_value, s.section) for s in parse_schedule(text).safety
    ]
    assert scopes == [
        ("PV_CHAN_Voltage", 2.0, 3.7, "Schedule"),
        ("PV_CHAN_Power", -20.0, 20.0, "Schedule"),
        ("PV_CHAN_Charge_Capacity", 0.0, 1.2, "Schedule_UserDefineSafety0"),
    ]
    inverted = mits_text([step("S", "Rest", limits=[TIME_10])], safety={"Voltage": (4.0, 3.0)})
    assert problems_of(inverted) == ["[Schedule] m_VoltageSafetyScope: min 4 is above max 3"]
    unknown = mits_text([step("S", "Rest", limits=[TIME_10])], user_safety=[("Pressure", 0, 1)])
    assert problems_of(unknown) == [
        "[Schedule_UserDefineSafety0] m_szSafetyType: unknown variable 'Pressure'"
    ]


# -- checks ----------------------------------------------------------------------------------------


def test_check_finds_steps_that_never_end_and_steps_never_reached() -> None:
    schedule = parse_schedule(
        mits_text(
            [
                step("A", "Rest", limits=[limit(("PV_CHAN_Step_Time", ">", "1"), goto="C")]),
                step("B", "Rest", limits=[TIME_10]),
                step(
                    "C",
                    "Current(A)",
                    "1",
                    limits=[limit(("DV_Time", ">", "1"), step=False, log=True)],
                ),
                step("D", "Set Variable(s)", "0", "1"),
            ]
        )
    )
    assert [str(p) for p in check_schedule(schedule)] == [
        "[Schedule_Step2] m_uLimitNum: step 3 'C' has no step limit: it never ends",
        "[Schedule_Step1]: step 2 'B' is never reached",
        "[Schedule_Step3]: step 4 'D' is never reached",
    ]


# -- loading ---------------------------------------------------------------------------------------


def test_shipped_schedules_are_mits_files_that_check_clean(tmp_path: Path) -> None:
    names = list_schedules()
    assert {
        "CCCV_Charge.sdx",
        "CC_Discharge.sdx",
        "Cycle_CCCV.sdx",
        "MV_Current.sdx",
        "Rest.sdx",
    } <= set(names)
    for name in names:
        assert (SHIPPED_SCHEDULES_DIR / name).read_bytes().startswith(b"[Version Section]\r\n")
        schedule = load_schedule(name)
        never_ending = {"Rest.sdx", "MV_Current.sdx"}  # they run until stopped, on purpose
        assert (check_schedule(schedule) == []) is (name not in never_ending), name


def test_find_schedule_tries_both_suffixes_and_refuses_paths(tmp_path: Path) -> None:
    (tmp_path / "Mine.SDU").write_bytes(REFERENCE.read_bytes())
    assert find_schedule("mine", [tmp_path]) == tmp_path / "Mine.SDU"
    assert load_schedule("Mine.sdu", [tmp_path]).steps[0].label == "pulse charge"
    assert find_schedule("cycle_cccv", [tmp_path]) == SHIPPED_SCHEDULES_DIR / "Cycle_CCCV.sdx"
    for bad in ("../Mine.sdu", "a/b.sdx", "", "..", "C:x.sdx"):
        with pytest.raises(ScheduleNotFoundError):
            find_schedule(bad, [tmp_path])


def test_meta_variable_numbers_use_the_protocols_names() -> None:
    assert meta_variable_number("MV_UD1") == 1
    assert meta_variable_number(" mv_ud16 ") == 16
    assert meta_variable_number(7) == 7
    for bad in ("MV_UD0", "MV_UD17", "TC_Counter1", 0, 17):
        with pytest.raises(ValueError):
            meta_variable_number(bad)


# -- cells -----------------------------------------------------------------------------------------


def test_cell_presets_and_toml_files(tmp_path: Path) -> None:
    lfp = load_cell_parameters("LFP")
    assert lfp.capacity_ah == 1.1
    assert lfp.ocv_table[0][1] == 2.0 and lfp.ocv_table[-1][1] == 3.6
    plateau = [v for soc, v in lfp.ocv_table if 0.15 <= soc <= 0.9]
    assert max(plateau) - min(plateau) < 0.1  # flat
    assert load_cell_parameters("nmc") == CellParameters() == CELL_PRESETS["nmc"]
    good = tmp_path / "mine.toml"
    good.write_text('preset = "lfp"\ncapacity_ah = 1.05\nocv_table = [[0, 2.0], [1, 3.6]]\n')
    mine = load_cell_parameters(good)
    assert (mine.capacity_ah, mine.r0_ohm, mine.ocv_table) == (
        1.05,
        lfp.r0_ohm,
        ((0.0, 2.0), (1.0, 3.6)),
    )
    cases = {
        "capcity_ah = 1\n": "unknown key 'capcity_ah'",
        'capacity_ah = "big"\n': "capacity_ah: need a number",
        "capacity_ah = -1\n": "capacity_ah must be positive",
        'preset = "lead"\n': "preset: unknown preset 'lead'",
        "= 1\n": "not valid TOML",
        "ocv_table = [1, 2]\n": "ocv_table: need a list",
    }
    for text, expected in cases.items():
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(ValueError, match=r"bad\.toml") as caught:
            load_cell_parameters(bad)
        assert expected in str(caught.value), text
    with pytest.raises(ValueError, match="unknown cell 'lead'"):
        load_cell_parameters("lead")
