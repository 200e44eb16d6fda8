"""The shapes of the version variants: MV lists and JSON channel data (protocol/variants.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyctiarbin.protocol import ChannelRecord, ResumeData, StatusCode
from pyctiarbin.protocol.variants import (
    DWORD_CODES,
    QWORD_CODES,
    channel_json,
    channel_record_from_json,
    mv_list,
    resume_data_from_mv_list,
)

from .strategies import builds_record, resume_data


@given(data=resume_data(), step_index=st.integers(0, 0x7FFFFFFF))
def test_mv_list_is_the_dlls_26_and_20_items_and_round_trips(
    data: ResumeData, step_index: int
) -> None:
    dwords, qwords = mv_list(data, step_index)
    assert [d.meta_code for d in dwords] == list(DWORD_CODES) and len(dwords) == 26
    assert [q.meta_code for q in qwords] == list(QWORD_CODES) and len(qwords) == 20
    cycle, step = dwords[0], dwords[1]
    assert (cycle.meta_code, cycle.value_u32, cycle.value_i32) == (2, data.cycle, data.cycle)
    assert (step.meta_code, step.value_u32, step.value_i32) == (1, step_index, step_index)
    assert {d.meta_code: d.value_f32 for d in dwords}[116] == data.mv_ud[15]  # MV_UD16
    qword_values = {q.meta_code: q.value_f64 for q in qwords}
    assert qword_values[72] == data.tc_discharge_energy_wh[1]  # TC_DischargeEnergy2
    assert resume_data_from_mv_list(dwords, qwords) == (data, step_index)


def test_mv_list_reading_takes_the_i32_slot_when_the_u32_slot_is_empty() -> None:
    dwords, _qwords = mv_list(ResumeData(cycle=3), 2)
    dwords = (replace(dwords[0], value_u32=0), *dwords[1:])
    assert resume_data_from_mv_list(dwords, ())[0].cycle == 3


# JSON channel data carries no aux, BMS or SMB part.
_NO_PARTS = ChannelRecord(channel_index=0)


@given(drawn=builds_record(ChannelRecord), status=st.sampled_from(StatusCode))
def test_json_channel_round_trip_and_status_names(drawn: ChannelRecord, status: StatusCode) -> None:
    record = replace(drawn, status=status, aux=_NO_PARTS.aux, bms=_NO_PARTS.bms, smb=_NO_PARTS.smb)
    item = channel_json(record)
    assert (item["Channel"], item["Status"]) == (record.channel_index, status.value)
    assert item["DishargeEnergy"] == record.discharge_energy_wh  # the DLL's spelling
    assert channel_record_from_json(item) == record
    # Member names in any case, and the status as a name ("External_Charge").
    lowered = {key.lower(): value for key, value in item.items()}
    lowered["status"] = status.name.title()
    assert channel_record_from_json(lowered) == record
    with pytest.raises(ValueError, match="Channel"):
        channel_record_from_json({"Status": 0})
    with pytest.raises(ValueError, match="status"):
        channel_record_from_json({"Channel": 1, "Status": "Flying"})
    with pytest.raises(ValueError, match="Voltage"):
        channel_record_from_json({"Channel": 1, "Voltage": "high"})
