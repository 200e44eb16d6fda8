"""Which commands a simulated server version lacks, and the version option."""

from __future__ import annotations

import pytest

from pyctiarbin.protocol import CommandCode, ServerVersion
from pyctiarbin.simulator import Simulator, SimulatorConfig
from pyctiarbin.simulator.versions import lacks

C = CommandCode
V = ServerVersion


@pytest.mark.parametrize(
    ("version", "code", "lacking"),
    [
        (V.PRO8, C.GET_CHANNELS_INFO, False),
        (V.MITSX_8, C.GET_CHANNELS_INFO, False),  # legacy codes: every version
        (V.PRO8, C.GET_CHANNELS_INFO_VLS, True),
        (V.MITSX_3, C.GET_CHANNELS_INFO_VLS, False),
        (V.TY_PRO8_4, C.START_VLS, False),
        (V.MITSX_SPTT, C.START_VLS, True),
        (V.MITSX_SPTT, C.GET_CHANNELS_INFO_JSON, False),
        (V.MITSX_8, C.GET_CHANNELS_INFO_JSON, True),
        (V.MITSX_1, C.RESUME_BY_MV, False),
        (V.MITSX_2, C.GET_RESUME_DATA_BY_MV, False),
        (V.MITSX_3, C.RESUME_BY_MV, True),
        (V.PRO7, C.RESUME_BY_MV, True),
        (V.MITSX_3, C.TIME_SENSITIVE_SET_MV, True),
        (V.MITSX_4, C.TIME_SENSITIVE_SET_MV, False),
        (V.PRO7, C.GET_META_VARIABLES, True),
        (V.MITSX_1, C.GET_META_VARIABLES, True),
        (V.MITSX_2, C.GET_META_VARIABLES, False),
        (V.MITSX_3, C.GET_BARCODE, True),
        (V.MITSX_4, C.ASSIGN_BARCODE, False),
        (V.MITSX_5, C.START_ADVANCED, True),
        (V.MITSX_6, C.START_ADVANCED, False),
        (V.MITSX_7, C.GET_MAPPING_AUX, True),
        (V.MITSX_8, C.MODIFY_SCHEDULE, False),
        (V.MITSX_8, C.UPDATE_META_VARIABLE_ADVANCED_EX, True),
        (V.TY_PRO8_SPTT, C.UPDATE_META_VARIABLE_ADVANCED_EX, False),
        (V.MITSX_4, C.SET_DATA_LOG_INTERVAL, True),
        (V.MITSX_5, C.SET_DATA_LOG_INTERVAL, False),
        (V.PRO7, C.AUTO_CALIBRATION_START, True),
        (V.PRO8, C.AUTO_CALIBRATION_START, False),
        (V.PRO7, C.GET_MACHINE_TYPE, False),
        (V.MITSX_8, C.GET_TRAY_STATUS, True),
    ],
)
def test_what_a_version_lacks(version: ServerVersion, code: int, lacking: bool) -> None:
    assert lacks(version, code) is lacking


def test_the_version_option() -> None:
    assert SimulatorConfig().server_version is V.PRO8
    assert SimulatorConfig(server_version="sptt").server_version is V.MITSX_SPTT
    assert SimulatorConfig(server_version=0x01000003).server_version is V.MITSX_3
    with pytest.raises(ValueError, match="unknown server version"):
        SimulatorConfig(server_version="MitsX_9")
    with pytest.raises(ValueError, match="software_version"):
        SimulatorConfig(software_version="é")
    sim = Simulator(server_version="MitsX_5")
    assert sim.server_version is V.MITSX_5
