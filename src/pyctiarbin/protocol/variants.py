"""Conversions between the shapes of a command's version variants (DLL reference 2.2, 4.2, 4.4).

Newer servers are sent the same information in other shapes: resume counters as MV lists
(VLS and resume-by-MV variants) instead of a fixed ``RESUME_DATA``, channel data as JSON
(MitsX_SPTT). The client builds and reads those shapes, and the simulator answers in them,
through the functions here, so that both sides agree on one mapping.

MV list (section 4.4): ArbinCTI.dll sends all 26 DWORD and 20 QWORD items in the order of
:data:`DWORD_CODES` and :data:`QWORD_CODES`. Cycle and step index (codes 2 and 1) are written
in both integer slots, as open question 5 leaves open which one a server reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .codes import StatusCode
from .messages import ChannelRecord, DwordItem, QwordItem, ResumeData

__all__ = [
    "DWORD_CODES",
    "QWORD_CODES",
    "channel_json",
    "channel_record_from_json",
    "mv_list",
    "resume_data_from_mv_list",
]

_STEP, _CYCLE = 1, 2
_MV_UD = (52, 53, 54, 55, *range(105, 117))
_TC_COUNTERS = (73, 74, 75, 76, 232, 233, 234, 235)

#: DWORD item codes in the order ArbinCTI.dll sends them: cycle, step, MV_UD1..16 (f32),
#: TC_Counter1..8 (f32; ``ResumeData`` holds the first four as ``mv_counters``).
DWORD_CODES: tuple[int, ...] = (_CYCLE, _STEP, *_MV_UD, *_TC_COUNTERS)

# The QWORD codes of each ResumeData attribute, in the order ArbinCTI.dll sends them: one
# code for a scalar, one per element for a tuple.
_QWORD_CODES_BY_ATTRIBUTE: dict[str, int | tuple[int, ...]] = {
    "test_time_s": 4,
    "step_time_s": 3,
    "charge_capacity_ah": 23,
    "discharge_capacity_ah": 24,
    "charge_energy_wh": 25,
    "discharge_energy_wh": 26,
    "charge_capacity_time_s": 79,
    "discharge_capacity_time_s": 80,
    "tc_charge_capacity_ah": (65, 66),
    "tc_discharge_capacity_ah": (67, 68),
    "tc_charge_energy_wh": (69, 70),
    "tc_discharge_energy_wh": (71, 72),
    "tc_time_s": (61, 62, 63, 64),
}
# QWORD code -> (ResumeData attribute, index into it or None for a scalar).
_QWORD_FIELDS: dict[int, tuple[str, int | None]] = {}
for _name, _codes in _QWORD_CODES_BY_ATTRIBUTE.items():
    if isinstance(_codes, int):
        _QWORD_FIELDS[_codes] = (_name, None)
    else:
        _QWORD_FIELDS.update({code: (_name, index) for index, code in enumerate(_codes)})

#: QWORD item codes in the order ArbinCTI.dll sends them (all f64).
QWORD_CODES: tuple[int, ...] = tuple(_QWORD_FIELDS)


def mv_list(
    data: ResumeData, step_index: int
) -> tuple[tuple[DwordItem, ...], tuple[QwordItem, ...]]:
    """The 26 DWORD and 20 QWORD items carrying ``data`` and the 0-based ``step_index``."""
    floats = dict(zip(_MV_UD, data.mv_ud, strict=True))
    floats.update(zip(_TC_COUNTERS, (*data.mv_counters, 0.0, 0.0, 0.0, 0.0), strict=True))
    dwords = [
        DwordItem(_CYCLE, data.cycle, data.cycle, 0.0),
        DwordItem(_STEP, step_index, step_index, 0.0),
    ]
    dwords.extend(DwordItem(code, 0, 0, floats[code]) for code in DWORD_CODES[2:])
    qwords = []
    for code, (name, index) in _QWORD_FIELDS.items():
        value = getattr(data, name)
        qwords.append(QwordItem(code, 0, 0, float(value if index is None else value[index])))
    return tuple(dwords), tuple(qwords)


def resume_data_from_mv_list(
    dwords: Sequence[DwordItem], qwords: Sequence[QwordItem]
) -> tuple[ResumeData, int]:
    """``(ResumeData, 0-based step index)`` from MV-list items; codes not known are ignored,
    missing ones stay 0. Integers are taken from the u32 slot, else the i32 slot."""
    ints = {item.meta_code: item.value_u32 or item.value_i32 for item in dwords}
    floats = {item.meta_code: item.value_f32 for item in dwords}
    values: dict[str, Any] = {
        "cycle": ints.get(_CYCLE, 0),
        "mv_ud": tuple(float(floats.get(code, 0.0)) for code in _MV_UD),
        "mv_counters": tuple(float(floats.get(code, 0.0)) for code in _TC_COUNTERS[:4]),
    }
    arrays: dict[str, list[float]] = {}
    for item in qwords:
        known = _QWORD_FIELDS.get(item.meta_code)
        if known is None:
            continue
        name, index = known
        if index is None:
            values[name] = item.value_f64
        else:
            default = getattr(ResumeData(), name)
            arrays.setdefault(name, list(default))[index] = item.value_f64
    values.update({name: tuple(array) for name, array in arrays.items()})
    return ResumeData(**values), ints.get(_STEP, 0)


# Channel data as JSON (MitsX_SPTT; member names of the DLL's client class, section 4.2).
_JSON_NAMES: dict[str, str] = {
    "channel_index": "Channel",
    "comm_failure": "CommFailure",
    "schedule": "Schedule",
    "test_name": "Testname",
    "exit_condition": "ExitCondition",
    "step_and_cycle_format": "StepAndCycle",
    "barcode": "Barcode",
    "can_config_name": "CANCfg",
    "smb_config_name": "SMBCfg",
    "master_channel": "MasterChannel",
    "test_time_s": "TestTime",
    "step_time_s": "StepTime",
    "voltage_v": "Voltage",
    "current_a": "Current",
    "power_w": "Power",
    "charge_capacity_ah": "ChargeCapacity",
    "discharge_capacity_ah": "DischargeCapacity",
    "charge_energy_wh": "ChargeEnergy",
    "discharge_energy_wh": "DishargeEnergy",  # sic: the DLL's member name
    "internal_resistance_ohm": "InternalResistance",
    "dvdt_vbys": "dvdt",
    "acr_ohm": "ACR",
    "aci_ohm": "ACI",
    "aci_phase_degrees": "ACIPhase",
}
_TEXT = {"schedule", "test_name", "exit_condition", "step_and_cycle_format", "barcode"} | {
    "can_config_name",
    "smb_config_name",
}
_INTEGERS = {"channel_index", "comm_failure", "master_channel"}


def channel_json(record: ChannelRecord) -> dict[str, Any]:
    """One channel of a GET_CHANNELS_INFO_JSON feedback (``m_Channels`` item) for ``record``
    (aux, BMS and SMB parts are not carried)."""
    item: dict[str, Any] = {key: getattr(record, name) for name, key in _JSON_NAMES.items()}
    item["Status"] = int(record.status)
    return item


def channel_record_from_json(item: Mapping[str, Any]) -> ChannelRecord:
    """A :class:`ChannelRecord` from one ``m_Channels`` item.

    ``Status`` may be a number or a status name (the newer JSON feedbacks use names). Member
    names are matched case-insensitively (open question 6); missing ones give the default.

    Raises ValueError for a member of the wrong type or an unknown status.
    """
    lowered = {str(key).lower(): value for key, value in item.items()}
    values: dict[str, Any] = {}
    for name, key in _JSON_NAMES.items():
        if key.lower() not in lowered:
            if name == "channel_index":
                raise ValueError("a JSON channel item has no 'Channel' member")
            continue
        value = lowered[key.lower()]
        if name in _TEXT:
            if not isinstance(value, str):
                raise ValueError(f"JSON member {key!r} must be a string, not {value!r}")
        elif name in _INTEGERS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"JSON member {key!r} must be an integer, not {value!r}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"JSON member {key!r} must be a number, not {value!r}")
        values[name] = value
    status = lowered.get("status", 0)
    if isinstance(status, str):
        try:
            values["status"] = StatusCode[status.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown channel status {status!r}") from None
    elif isinstance(status, int) and not isinstance(status, bool):
        values["status"] = StatusCode(status)
    else:
        raise ValueError(f"JSON member 'Status' must be a number or a name, not {status!r}")
    return ChannelRecord(**values)
