"""Which commands a simulated server of a given version serves (DLL reference 2.2, 2.3).

A server answers a command it lacks with UNKNOWN_CODE_FEEDBACK (0xBB111111). What a version
lacks is derived from the two facts the reference gives: the variant codes Arbin's client
sends only to some versions (VLS codes to VLS servers, JSON channel data to MitsX_SPTT,
resume-by-MV to MitsX_1/2/SPTT, time-sensitive MV set to MitsX_4..8, trays and JSON barcodes
to MitsX_SPTT), and the capability flags the DLL exports per version. The legacy codes are
served by every version: the reference does not say that newer servers dropped them.
"""

from __future__ import annotations

import functools

from ..protocol import Capability, CommandCode, ServerVersion

__all__ = ["lacks"]

_C = CommandCode

_VLS_ONLY = frozenset(
    {
        _C.GET_CHANNELS_INFO_VLS,
        _C.START_VLS,
        _C.START_EX_VLS,
        _C.GET_RESUME_DATA_VLS,
        _C.RESUME_EX_VLS,
    }
)
_SPTT_ONLY = frozenset(
    {
        _C.GET_CHANNELS_INFO_JSON,
        _C.GET_TRAY_STATUS,
        _C.ENGAGE_TRAY,
        _C.ASSIGN_BARCODE_JSON,
        _C.GET_BARCODE_JSON,
    }
)
_BY_MV = frozenset({_C.GET_RESUME_DATA_BY_MV, _C.RESUME_BY_MV})

# Command code -> the capability flag a server needs to serve it.
_NEEDS: dict[int, Capability] = {
    _C.GET_META_VARIABLES: Capability.GET_META_VARIABLES,  # and MINIMALIST, same code
    _C.SET_DATA_LOG_INTERVAL: Capability.SET_MCU_LOG_INTERVAL,
    _C.AUTO_CALIBRATION_START: Capability.START_AUTO_CALIBRATION,
    _C.ASSIGN_FILE: Capability.ADVANCED_ASSIGN_FILE,
    _C.UPDATE_META_VARIABLE_ADVANCED_EX: Capability.ADVANCED_SET_META_VARIABLES_EX,
    _C.GET_CHANNELS_INFO_EX: Capability.MITSX_TEST_OBJECTS,
    _C.ASSIGN_BARCODE: Capability.BARCODE,
    _C.GET_BARCODE: Capability.BARCODE,
    _C.START_ADVANCED: Capability.START_CHANNEL_ADVANCED,
    _C.SPECIAL_SET_MV: Capability.SPECIAL_SET_MV,
    _C.GET_MAPPING_AUX: Capability.GET_MAPPING_AUX,
    _C.MODIFY_SCHEDULE: Capability.MODIFY_SCHEDULE,
}


@functools.lru_cache(maxsize=256)
def lacks(version: ServerVersion, code: int) -> bool:
    """True if a server of ``version`` answers request ``code`` with UNKNOWN_CODE_FEEDBACK."""
    if code in _VLS_ONLY:
        return not version.uses_vls
    if code in _SPTT_ONLY:
        return not version.uses_json_channels
    if code in _BY_MV:
        return version.uses_vls or not version.is_mitsx
    if code == _C.TIME_SENSITIVE_SET_MV:
        return not version.time_sensitive
    needed = _NEEDS.get(code)
    return needed is not None and not version.has(needed)
