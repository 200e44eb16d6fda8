"""The shapes of the version variants: MV lists and JSON channel data (protocol/variants.py)."""

from __future__ import annotations

import pytest

from pyctiarbin.protocol import ChannelRecord, ResumeData, StatusCode
from pyctiarbin.protocol.variants import (
    DWORD_CODES,
    QWORD_CODES,
    channel_json,
    channel_record_from_json,
    mv_list,
    resume_data_from_mv_list,
)


def test_mv_list_is_the_dlls_26_and_20_items_and_round_trips() -> None:
    data = ResumeData(
        cycle=7,
        test_time_s=100.5,
        step_time_s=2.25,
        charge_capacity_ah=1.5,
        discharge_energy_wh=3.5,
        tc_time_s=(1.0, 2.0, 3.0, 4.0),
        tc_discharge_energy_wh=(5.0, 6.0),
        mv_counters=(1.0, 2.0, 3.0, 4.0),
        charge_capacity_time_s=9.0,
        mv_ud=tuple(float(i) for i in range(16)),
    )
    dwords, qwords = mv_list(data, 4)
    assert [d.meta_code for d in dwords] == list(DWORD_CODES) and len(dwords) == 26
    assert [q.meta_code for q in qwords] == list(QWORD_CODES) and len(qwords) == 20
    assert (dwords[0].meta_code, dwords[0].value_u32, dwords[0].value_i32) == (2, 7, 7)
    assert (dwords[1].meta_code, dwords[1].value_u32, dwords[1].value_i32) == (1, 4, 4)
    assert {d.meta_code: d.value_f32 for d in dwords}[116] == 15.0  # MV_UD16
    assert {q.meta_code: q.value_f64 for q in qwords}[72] == 6.0  # TC_DischargeEnergy2
    back, step = resume_data_from_mv_list(dwords, qwords)
    assert (back, step) == (data, 4)


def test_mv_list_reading_takes_the_i32_slot_when_the_u32_slot_is_empty() -> None:
    dwords, _qwords = mv_list(ResumeData(cycle=3), 2)
    from dataclasses import replace

    dwords = (replace(dwords[0], value_u32=0), *dwords[1:])
    assert resume_data_from_mv_list(dwords, ())[0].cycle == 3


def test_json_channel_round_trip_and_status_names() -> None:
    record = ChannelRecord(
        channel_index=5,
        status=StatusCode.CHARGE,
        schedule="a.sdx",
        test_name="t",
        voltage_v=3.5,
        discharge_energy_wh=1.25,
    )
    item = channel_json(record)
    assert item["Channel"] == 5 and item["Status"] == 2 and item["DishargeEnergy"] == 1.25
    assert channel_record_from_json(item) == record
    lowered = {key.lower(): value for key, value in item.items()} | {"status": "Charge"}
    assert channel_record_from_json(lowered) == record
    with pytest.raises(ValueError, match="Channel"):
        channel_record_from_json({"Status": 0})
    with pytest.raises(ValueError, match="status"):
        channel_record_from_json({"Channel": 1, "Status": "Flying"})
    with pytest.raises(ValueError, match="Voltage"):
        channel_record_from_json({"Channel": 1, "Voltage": "high"})
