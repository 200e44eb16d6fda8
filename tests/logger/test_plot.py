"""pycti plot: a logged test drawn to PNG and SVG; dQ/dV computed right."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pyctiarbin.cli import run
from pyctiarbin.data import LabData
from pyctiarbin.plot import dqdv

from .cycling import log_cycling


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('plot') / 'lab.db'}"
    asyncio.run(log_cycling(url))
    return url


def test_plot_a_test_to_png_and_svg(logged: str, tmp_path: Path) -> None:
    with LabData(logged) as lab:
        test = lab.tests(cycler="bay1", channel=1)[0]
    png = tmp_path / "test.png"
    assert run(["plot", "--db", logged, "--test", str(test.test_id), "--out", str(png)]) == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # four panels with lines, not an empty canvas
    svg = tmp_path / "test.svg"
    assert run(["plot", "--db", logged, "--cycler", "bay1", "-c", "1", "--out", str(svg)]) == 0
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    # matplotlib writes the texts as glyph paths with the text in a comment.
    for title in (
        "voltage and current",
        "capacity per cycle",
        "coulombic efficiency",
        "incremental capacity",
        "bay1 channel 1: frames",
    ):
        assert f"<!-- {title}" in text, title


def test_plot_errors(logged: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "x.png")
    assert run(["plot", "--db", logged, "--test", "12345", "--out", out]) == 1
    assert "no test 12345" in capsys.readouterr().err
    assert run(["plot", "--db", logged, "--cycler", "bay1", "-c", "3", "--out", out]) == 1
    assert "no test stored for bay1 channel 3" in capsys.readouterr().err
    assert run(["plot", "--db", logged, "--test", "1", "--out", str(tmp_path / "x.pdf")]) == 2
    assert ".png or .svg" in capsys.readouterr().err
    assert run(["plot", "--db", logged, "--out", out]) == 2
    assert "either --test ID or --cycler NAME -c N" in capsys.readouterr().err
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    assert run(["plot", "--db", missing, "--test", "1", "--out", out]) == 2
    assert "no logger database" in capsys.readouterr().err
    assert not Path(out).exists()


def test_dqdv_of_a_linear_and_a_two_slope_curve() -> None:
    # Charge: Q grows 2 Ah per volt from 3.0 to 3.5 V, then 0.5 Ah/V up to 4.0 V.
    volts = [3.0 + n * 0.001 for n in range(1001)]
    charge = [2 * (v - 3.0) if v <= 3.5 else 1.0 + 0.5 * (v - 3.5) for v in volts]
    n = len(volts)
    curves = dqdv(volts, [1.0] * n, charge, [0.0] * n, ["[1] 1: CC_Charge, CC"] * n)
    assert len(curves) == 1
    curve = curves[0]
    assert curve.cycle == 1 and curve.charge
    low = [y for x, y in zip(curve.voltage_v, curve.dqdv_ah_per_v, strict=True) if x < 3.48]
    high = [y for x, y in zip(curve.voltage_v, curve.dqdv_ah_per_v, strict=True) if x > 3.52]
    assert low and high
    assert all(abs(y - 2.0) < 1e-6 for y in low)
    assert all(abs(y - 0.5) < 1e-6 for y in high)
    # Rest (zero current) and readings without a cycle are left out.
    assert dqdv([3.0, 3.1], [0.0, 0.0], [0.0, 0.1], [0.0, 0.0], ["[1] 2: Rest", ""]) == []
    with pytest.raises(ValueError, match="equal length"):
        dqdv([3.0], [], [], [], [])
