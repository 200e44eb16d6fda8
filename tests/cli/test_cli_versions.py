"""``pycti info`` server details, ``pycti mv get``, ``pycti barcode get|set`` and
``pycti sim --server-version``, in a subprocess against simulators of several versions."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from pyctiarbin.simulator import Simulator

from .support import PASSWORD, USER, RunPycti, address, lines


@pytest.fixture
def mitsx8() -> Iterator[Simulator]:
    with Simulator(channels=4, users={USER: PASSWORD}, server_version="MitsX_8") as simulator:
        yield simulator


def test_info_shows_server_and_software_version_and_machine_type(
    mitsx8: Simulator, run_pycti: RunPycti
) -> None:
    result = run_pycti("info", *address(mitsx8), "--format", "json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["server_version"] == "MITSX_8"
    assert info["version"] == 0x01000008
    assert info["software_version"] == mitsx8.config.software_version
    assert info["machine_type"] == "IV"
    table = run_pycti("info", *address(mitsx8))
    assert "Server version:" in table.stdout and "MITSX_8" in table.stdout
    assert "Machine type:" in table.stdout


def test_info_on_a_legacy_server(sim: Simulator, run_pycti: RunPycti) -> None:
    result = run_pycti("info", *address(sim), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["server_version"] == "PRO8"


def test_barcode_set_then_get(mitsx8: Simulator, run_pycti: RunPycti) -> None:
    done = run_pycti("barcode", "set", *address(mitsx8), "1=CELL-A", "3=CELL-C")
    assert done.returncode == 0, done.stderr
    assert lines(done.stdout) == [
        "channel 1: barcode set to CELL-A",
        "channel 3: barcode set to CELL-C",
    ]
    assert mitsx8.channel(3).record.barcode == "CELL-C"
    shown = run_pycti("barcode", "get", *address(mitsx8), "--channel", "1-3")
    assert lines(shown.stdout) == ["channel 1: CELL-A", "channel 2: (none)", "channel 3: CELL-C"]
    as_json = run_pycti("barcode", "get", *address(mitsx8), "--all", "--json")
    assert json.loads(as_json.stdout) == {"1": "CELL-A", "2": "", "3": "CELL-C", "4": ""}
    bad = run_pycti("barcode", "set", *address(mitsx8), "one=X")
    assert bad.returncode != 0 and "CHANNEL=BARCODE" in bad.stderr


def test_mv_get(mitsx8: Simulator, run_pycti: RunPycti) -> None:
    mitsx8.cycler.assign(1, "Rest.sdx")
    mitsx8.cycler.start(1, "mv-get")
    mitsx8.cycler.set_meta_variable(1, 53, 2.5)  # MV_UD2
    result = run_pycti("mv", "get", *address(mitsx8), "--channel", "2", "MV_UD2", "PV_Voltage")
    assert result.returncode == 0, result.stderr
    (line,) = lines(result.stdout)
    assert line.startswith("channel 2: MV_UD2=2.5 PV_Voltage=3.")


def test_a_command_the_server_lacks_is_reported(sim: Simulator, run_pycti: RunPycti) -> None:
    result = run_pycti("mv", "get", *address(sim), "--channel", "1", "MV_UD1")
    assert result.returncode != 0
    assert "does not support GET_META_VARIABLES" in result.stderr


def test_sim_server_version_option(run_pycti: RunPycti) -> None:
    help_text = run_pycti("sim", "--help", env={"COLUMNS": "200"}).stdout
    assert "--server-version" in help_text and "MitsX_1..MitsX_8" in help_text
    bad = run_pycti("sim", "--port", "0", "--server-version", "MitsX_9")
    assert bad.returncode == 2
    assert "unknown server version 'MitsX_9'" in bad.stderr
