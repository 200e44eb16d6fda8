"""The equivalent-circuit cell model of the simulator."""

from __future__ import annotations

import math
from dataclasses import replace
from itertools import pairwise

import pytest

from pyctiarbin.simulator.cell import NMC_GRAPHITE_OCV, Cell, CellParameters, CellState

ISOTHERMAL = CellParameters(r0_temperature_coefficient_per_k=0.0)


def test_default_parameters_describe_a_3ah_cell() -> None:
    parameters = CellParameters()
    assert parameters.capacity_ah == 3.0
    assert parameters.rc_time_constant_s == pytest.approx(30.0)
    assert parameters.thermal_time_constant_s == pytest.approx(1000.0)
    cell = Cell()
    assert cell.soc == parameters.initial_soc
    assert cell.v_rc_v == 0.0
    assert cell.temperature_c == parameters.ambient_temperature_c


@pytest.mark.parametrize(
    "changes",
    [
        {"capacity_ah": 0.0},
        {"r0_ohm": -0.01},
        {"c1_f": math.inf},
        {"heat_transfer_w_per_k": 0.0},
        {"ocv_table": ((0.0, 3.0),)},
        {"ocv_table": ((0.0, 3.0), (0.5, 3.7), (0.5, 3.8))},
        {"ocv_table": ((0.0, 3.0), (1.0, math.nan))},
        {"soc_margin": -0.1},
        {"initial_soc": math.nan},
    ],
)
def test_invalid_parameters_raise_value_error(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        replace(CellParameters(), **changes)  # type: ignore[arg-type]


def test_ocv_curve_is_increasing_and_hits_the_table() -> None:
    cell = Cell()
    socs = [i / 200 for i in range(201)]
    voltages = [cell.ocv_v(soc) for soc in socs]
    assert all(b > a for a, b in pairwise(voltages))
    for soc, voltage_v in NMC_GRAPHITE_OCV:
        assert cell.ocv_v(soc) == pytest.approx(voltage_v)
    assert cell.ocv_v(0.0) < 3.0 and cell.ocv_v(1.0) == pytest.approx(4.2)
    # Past the window the voltage keeps moving (so limits trigger), then flattens.
    assert cell.ocv_v(1.05) > 4.2 + 0.01
    assert cell.ocv_v(5.0) == cell.ocv_v(1.0 + CellParameters().soc_margin)
    assert cell.ocv_slope_v(5.0) == 0.0


def test_terminal_voltage_adds_ohmic_drop_with_arbin_sign() -> None:
    cell = Cell(ISOTHERMAL, soc=0.5)
    ocv_v = cell.ocv_v()
    assert cell.terminal_voltage_v(0.0) == pytest.approx(ocv_v)
    assert cell.terminal_voltage_v(3.0) == pytest.approx(ocv_v + 3.0 * 0.030)
    assert cell.terminal_voltage_v(-3.0) == pytest.approx(ocv_v - 3.0 * 0.030)
    assert cell.internal_resistance_ohm == pytest.approx(0.030)


def test_charge_is_conserved() -> None:
    cell = Cell(soc=0.2)
    cell.advance(3.0, 1800.0)  # 1.5 Ah into a 3 Ah cell
    assert cell.soc == pytest.approx(0.7)
    cell.advance(-1.5, 1200.0)  # 0.5 Ah out
    assert cell.soc == pytest.approx(0.7 - 0.5 / 3.0)


def test_large_steps_match_small_steps() -> None:
    """The RC pair and the charge use exact solutions: one big step equals many small ones."""
    one_step = Cell(ISOTHERMAL, soc=0.3)
    many_steps = Cell(ISOTHERMAL, soc=0.3)
    one_step.advance(2.0, 600.0)
    for _ in range(600):
        many_steps.advance(2.0, 1.0)
    assert one_step.soc == pytest.approx(many_steps.soc, abs=1e-12)
    assert one_step.v_rc_v == pytest.approx(many_steps.v_rc_v, abs=1e-12)
    assert one_step.temperature_c == pytest.approx(many_steps.temperature_c, abs=0.02)
    # After many time constants the RC pair carries I * R1.
    assert one_step.v_rc_v == pytest.approx(2.0 * 0.015, rel=1e-6)


def test_ramped_current_matches_fine_constant_steps() -> None:
    ramped = Cell(ISOTHERMAL, soc=0.6)
    fine = Cell(ISOTHERMAL, soc=0.6)
    ramped.advance(3.0, 120.0, end_current_a=0.5)
    steps = 12000
    for index in range(steps):
        midpoint_a = 3.0 + (0.5 - 3.0) * (index + 0.5) / steps
        fine.advance(midpoint_a, 120.0 / steps)
    assert ramped.soc == pytest.approx(fine.soc, abs=1e-9)
    assert ramped.v_rc_v == pytest.approx(fine.v_rc_v, abs=1e-6)


def test_predict_does_not_change_the_cell() -> None:
    cell = Cell(soc=0.4)
    before = cell.state
    predicted = cell.predict(3.0, 100.0)
    assert cell.state == before
    cell.advance(3.0, 100.0)
    assert cell.state == predicted
    cell.state = CellState(0.5, 0.01, 30.0)
    assert (cell.soc, cell.v_rc_v, cell.temperature_c) == (0.5, 0.01, 30.0)


@pytest.mark.parametrize(
    ("current_a", "dt_s"),
    [(math.nan, 1.0), (1.0, -1.0), (1.0, math.inf), (math.inf, 1.0)],
)
def test_invalid_advance_raises_value_error(current_a: float, dt_s: float) -> None:
    cell = Cell()
    with pytest.raises(ValueError):
        cell.advance(current_a, dt_s)
    with pytest.raises(ValueError):
        cell.current_for_voltage_a(4.2 if math.isfinite(current_a) else current_a, dt_s)


@pytest.mark.parametrize("dt_s", [0.0, 1.0, 30.0, 600.0])
@pytest.mark.parametrize("soc", [0.05, 0.5, 0.97])
def test_current_for_voltage_holds_the_voltage(dt_s: float, soc: float) -> None:
    cell = Cell(soc=soc)
    cell.advance(1.0, 300.0)
    target_v = cell.terminal_voltage_v(1.0) + 0.02
    constant_a = cell.current_for_voltage_a(target_v, dt_s)
    predicted = cell.predict(constant_a, dt_s)
    assert cell.state_voltage_v(predicted, constant_a) == pytest.approx(target_v, abs=1e-4)
    # Ramp mode: start from the current that holds the voltage now.
    start_a = cell.current_for_voltage_a(target_v, 0.0)
    assert cell.terminal_voltage_v(start_a) == pytest.approx(target_v, abs=1e-9)
    end_a = cell.current_for_voltage_a(target_v, dt_s, start_current_a=start_a)
    predicted = cell.predict(start_a, dt_s, end_a)
    assert cell.state_voltage_v(predicted, end_a) == pytest.approx(target_v, abs=1e-4)
    if dt_s > 0.0:
        assert end_a < start_a  # holding a voltage while charging: the current tapers


def test_dvdt_matches_a_finite_difference() -> None:
    cell = Cell(ISOTHERMAL, soc=0.45)
    cell.advance(3.0, 20.0)
    dvdt = cell.dvdt_vbys(3.0)
    before_v = cell.terminal_voltage_v(3.0)
    cell.advance(3.0, 0.01)
    assert (cell.terminal_voltage_v(3.0) - before_v) / 0.01 == pytest.approx(dvdt, rel=1e-3)
    assert dvdt > 0.0


def test_temperature_rises_under_load_and_relaxes_at_rest() -> None:
    cell = Cell(soc=0.1)
    ambient_c = cell.parameters.ambient_temperature_c
    temperatures = []
    for _ in range(60):
        cell.advance(6.0, 30.0)  # 2C for 30 min
        temperatures.append(cell.temperature_c)
    assert all(b > a for a, b in pairwise(temperatures))
    peak_c = cell.temperature_c
    assert peak_c > ambient_c + 5.0
    resting = []
    for _ in range(60):
        cell.advance(0.0, 120.0)
        resting.append(cell.temperature_c)
    assert all(b < a for a, b in pairwise(resting))
    assert resting[-1] < ambient_c + 0.1 * (peak_c - ambient_c)


def test_steady_temperature_balances_joule_heat_and_convection() -> None:
    cell = Cell(ISOTHERMAL, soc=-10.0)  # a wide SOC range: the OCV does not matter here
    cell.advance(3.0, 1000.0)  # the RC pair settles
    cell.advance(3.0, 50_000.0)  # the thermal node settles
    expected_c = 25.0 + (9.0 * 0.030 + (3.0 * 0.015) ** 2 / 0.015) / 0.045
    assert cell.temperature_c == pytest.approx(expected_c, rel=1e-6)


def test_resistance_rises_in_the_cold() -> None:
    cell = Cell(temperature_c=0.0)
    assert cell.internal_resistance_ohm > CellParameters().r0_ohm * 1.2
    assert cell.r0_ohm(25.0) == pytest.approx(CellParameters().r0_ohm)


def test_model_is_deterministic() -> None:
    first, second = Cell(soc=0.3), Cell(soc=0.3)
    for cell in (first, second):
        cell.advance(3.0, 1000.0)
        cell.advance(-1.0, 77.0, end_current_a=-0.2)
        cell.advance(0.0, 5000.0)
    assert first.state == second.state
    assert repr(first) == repr(second)
