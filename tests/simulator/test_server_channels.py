"""The per-channel state machine over the wire: every control command, its refusals with the
documented result codes, the 'all channels' variants and the channel-info selections."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pyctiarbin.protocol import (
    AssignScheduleRequest,
    AutoCalibrationRequest,
    AuxOptions,
    ChannelInfoFeedback,
    ChannelInfoRequest,
    ChannelSelection,
    ContinueRequest,
    GetResumeDataRequest,
    GetSerialNumberRequest,
    GetStartDataRequest,
    JumpRequest,
    MetaCode,
    MetaVariableEntry,
    ResumeExEntry,
    ResumeExRequest,
    ResumeRequest,
    SendMessageRequest,
    SetMetaVariableRequest,
    StartExEntry,
    StartExRequest,
    StartRequest,
    StatusCode,
    StopRequest,
    UpdateMetaVariablesRequest,
    encode,
)
from pyctiarbin.simulator import Simulator
from pyctiarbin.simulator.rawclient import RawClient

from .clock import ManualClock
from .mits import limit, mits_text, step

CHANNELS = 6


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(channels=CHANNELS, speed=60.0, mv_min_interval_s=0.2) as simulator:
        yield simulator


@pytest.fixture
def client(sim: Simulator) -> Iterator[RawClient]:
    with RawClient(sim.host, sim.port) as raw:
        assert raw.login("admin", "admin").result == 1
        yield raw


def result(client: RawClient, message: Any) -> tuple[int, int]:
    answer = client.request(message)
    return answer.channel_index, answer.result  # type: ignore[attr-defined]


def results(client: RawClient, message: Any, count: int) -> list[tuple[int, int]]:
    return [(a.channel_index, a.result) for a in client.request_all(message, count)]  # type: ignore[attr-defined]


def info(client: RawClient, channel_index: int = -1, **kwargs: Any) -> ChannelInfoFeedback:
    answer = client.request(ChannelInfoRequest(channel_index=channel_index, **kwargs))
    assert isinstance(answer, ChannelInfoFeedback)
    return answer


def test_idle_channels_report_a_rested_cell(client: RawClient) -> None:
    records = info(client).channels
    assert [r.channel_index for r in records] == list(range(CHANNELS))
    for record in records:
        assert record.status is StatusCode.IDLE
        assert 3.6 < record.voltage_v < 4.0
        assert record.current_a == 0.0 and record.test_time_s == 0.0
        assert record.master_channel == record.channel_index
        assert record.internal_resistance_ohm > 0


def test_channel_info_frame_equals_the_protocol_encoding(client: RawClient) -> None:
    # The cached fast path must produce exactly what encode() would.
    client.send(ChannelInfoRequest(channel_index=-1))
    frame = client.recv_frame()
    from pyctiarbin.protocol import decode

    assert encode(decode(frame)) == frame


def test_assign_refusals(client: RawClient) -> None:
    assert result(client, AssignScheduleRequest(channel_index=CHANNELS, schedule="Rest.sdx")) == (
        CHANNELS,
        0x10,
    )
    assert result(client, AssignScheduleRequest(channel_index=0, schedule="  ")) == (0, 0x12)
    assert result(client, AssignScheduleRequest(channel_index=0, schedule="Nope.sdx")) == (0, 0x13)
    assert result(client, AssignScheduleRequest(channel_index=0, schedule="../Rest.sdx")) == (
        0,
        0x13,
    )
    assert result(client, AssignScheduleRequest(channel_index=0, schedule="Rest.sdx")) == (0, 0)
    assert result(client, StartRequest(test_name="t", channel_indexes=(0,))) == (0, 0)
    assert result(client, AssignScheduleRequest(channel_index=0, schedule="Rest.sdx")) == (0, 0x14)


def test_start_refusals_and_multi_channel_start(client: RawClient) -> None:
    assert result(client, StartRequest(test_name="t", channel_indexes=(1,))) == (1, 0x15)
    assert result(client, AssignScheduleRequest(channel_index=1, schedule="rest")) == (1, 0)
    assert result(client, StartRequest(test_name="", channel_indexes=(1,))) == (1, 0x23)
    assert results(client, StartRequest(test_name="t", channel_indexes=(1, 2, 99)), 3) == [
        (1, 0),
        (2, 0x15),
        (99, 0x10),
    ]
    assert result(client, StartRequest(test_name="t", channel_indexes=(1,))) == (1, 0x12)
    assert result(client, StartRequest(test_name="t", channel_indexes=())) == (-1, 0x1F)
    record = info(client, 1).channels[0]
    assert record.status is StatusCode.REST
    assert record.test_name == "t" and record.schedule == "Rest.sdx"


def test_assign_all_answers_per_channel(client: RawClient) -> None:
    assert result(client, AssignScheduleRequest(channel_index=2, schedule="Rest.sdx")) == (2, 0)
    assert result(client, StartRequest(test_name="x", channel_indexes=(2,))) == (2, 0)
    answers = results(
        client,
        AssignScheduleRequest(channel_index=-1, assign_all=True, schedule="Rest.sdx"),
        CHANNELS,
    )
    assert answers == [(i, 0x14 if i == 2 else 0) for i in range(CHANNELS)]


def test_stop_resume_continue_and_stop_all(sim: Simulator, client: RawClient) -> None:
    assert result(client, StopRequest(channel_index=CHANNELS)) == (CHANNELS, 0x10)
    assert result(client, StopRequest(channel_index=0)) == (0, 0)  # idle: nothing to stop
    assert result(client, ResumeRequest(channel_index=0)) == (0, 0x15)
    assert result(client, AssignScheduleRequest(channel_index=0, schedule="Rest.sdx")) == (0, 0)
    assert result(client, ResumeRequest(channel_index=0)) == (0, 0x23)  # never started
    assert result(client, ContinueRequest(channel_indexes=(0,))) == (0, 0x15)  # not paused
    assert result(client, StartRequest(test_name="t", channel_indexes=(0,))) == (0, 0)
    assert result(client, ResumeRequest(channel_index=0)) == (0, 0x12)
    assert result(client, ContinueRequest(channel_indexes=(0,))) == (0, 0x12)
    assert result(client, StopRequest(channel_index=0)) == (0, 0)
    stopped = info(client, 0).channels[0]
    assert stopped.status is StatusCode.IDLE and stopped.exit_condition == "Stop"
    assert result(client, ResumeRequest(channel_index=0)) == (0, 0)
    assert info(client, 0).channels[0].status is StatusCode.REST
    # Pause (MITS's Pause button), then CONTINUE.
    assert sim.pause(1) is True
    assert info(client, 0).channels[0].status is StatusCode.PAUSE
    assert results(client, ContinueRequest(channel_indexes=(0, 77)), 2) == [(0, 0), (77, 0x10)]
    assert info(client, 0).channels[0].status is StatusCode.REST
    assert results(client, StopRequest(channel_index=0, stop_all=True), CHANNELS) == [
        (i, 0) for i in range(CHANNELS)
    ]
    assert results(client, ResumeRequest(channel_index=0, resume_all=True), CHANNELS) == [
        (0, 0)
    ] + [(i, 0x15) for i in range(1, CHANNELS)]


def test_jump(client: RawClient) -> None:
    assert result(client, JumpRequest(step=0, channel_index=CHANNELS)) == (CHANNELS, 0x10)
    assert result(client, JumpRequest(step=0, channel_index=0)) == (0, 0x12)
    assert result(client, AssignScheduleRequest(channel_index=0, schedule="Cycle_CCCV.sdx")) == (
        0,
        0,
    )
    assert result(client, StartRequest(test_name="t", channel_indexes=(0,))) == (0, 0)
    assert result(client, JumpRequest(step=-1, channel_index=0)) == (0, 0x19)
    # Steps are 0-based on the wire (protocol v1.1): 3 is the fourth step, CC_Discharge.
    assert result(client, JumpRequest(step=3, channel_index=0)) == (0, 0)
    record = info(client, 0).channels[0]
    assert record.status is StatusCode.DISCHARGE
    assert "4: CC_Discharge" in record.step_and_cycle_format
    # Beyond the last step the test stops (v1.1).
    assert result(client, JumpRequest(step=50, channel_index=0)) == (0, 0)
    assert info(client, 0).channels[0].status is StatusCode.IDLE


def test_set_meta_variable(sim: Simulator, client: RawClient) -> None:
    assert result(client, SetMetaVariableRequest(channel_index=0, value=1.0)) == (0, 0x12)
    assert result(client, SetMetaVariableRequest(channel_index=CHANNELS)) == (CHANNELS, 0x10)
    assert result(client, AssignScheduleRequest(channel_index=0, schedule="MV_Current.sdx")) == (
        0,
        0,
    )
    assert result(client, StartRequest(test_name="mv", channel_indexes=(0,))) == (0, 0)
    assert result(client, SetMetaVariableRequest(channel_index=0, meta_code=99)) == (0, 0x11)
    assert result(client, SetMetaVariableRequest(channel_index=0, mv_type=2)) == (0, 0x10)
    assert result(client, SetMetaVariableRequest(channel_index=0, value_type=0)) == (0, 0x10)
    assert result(
        client, SetMetaVariableRequest(channel_index=0, meta_code=MetaCode.MV_UD1, value=1.5)
    ) == (0, 0)
    record = info(client, 0).channels[0]
    assert record.status is StatusCode.CHARGE and record.current_a == pytest.approx(1.5)
    assert sim.channel(1).meta_variables[0] == pytest.approx(1.5)
    assert result(
        client, SetMetaVariableRequest(channel_index=0, meta_code=MetaCode.MV_UD1, value=-2.0)
    ) == (0, 0)
    record = info(client, 0).channels[0]
    assert record.status is StatusCode.DISCHARGE and record.current_a == pytest.approx(-2.0)


def test_update_meta_variables_advanced_and_too_frequent(sim: Simulator, client: RawClient) -> None:
    clock = ManualClock()  # the 200 ms throttle runs on the cycler's clock
    sim.cycler.set_clock(clock)

    def update(*entries: tuple[int, int, float]) -> tuple[int, int]:
        request = UpdateMetaVariablesRequest(
            entries=tuple(MetaVariableEntry(c, m, v) for c, m, v in entries),
        )
        return result(client, request)

    assert update() == (-1, 0x10)  # no entries, so no channel to name
    assert update((1, 52, 1.0)) == (1, 0x12)
    for index in (0, 1):
        assert result(
            client, AssignScheduleRequest(channel_index=index, schedule="MV_Current")
        ) == (
            index,
            0,
        )
    assert results(client, StartRequest(test_name="t", channel_indexes=(0, 1)), 2) == [
        (0, 0),
        (1, 0),
    ]
    assert update((0, 52, 1.0), (1, 999, 1.0)) == (1, 0x11)
    assert update((0, 52, 1.0), (CHANNELS, 52, 1.0)) == (CHANNELS, 0x10)
    assert update((0, 52, 1.0), (1, 52, -1.0)) == (0, 0)
    clock.advance(0.19)
    assert update((0, 52, 2.0)) == (0, 0x14)  # again within 200 ms
    clock.advance(0.02)
    assert update((0, 52, 2.0)) == (0, 0)
    currents = [r.current_a for r in info(client).channels[:2]]
    assert currents == [pytest.approx(2.0), pytest.approx(-1.0)]


def test_selections_running_and_unsafe(sim: Simulator, client: RawClient) -> None:
    assert info(client, selection=ChannelSelection.RUNNING).channels == ()
    assert result(client, AssignScheduleRequest(channel_index=3, schedule="Rest.sdx")) == (3, 0)
    assert result(client, StartRequest(test_name="t", channel_indexes=(3,))) == (3, 0)
    sim.make_unsafe(5, reason="Safety: Temperature>=60C")
    running = info(client, selection=ChannelSelection.RUNNING).channels
    assert [r.channel_index for r in running] == [3]
    unsafe = info(client, selection=ChannelSelection.UNSAFE).channels
    assert [r.channel_index for r in unsafe] == [4]
    assert unsafe[0].status is StatusCode.UNSAFE
    assert unsafe[0].exit_condition == "Safety: Temperature>=60C"
    # One channel, filtered: channel 4 is unsafe, not running.
    assert info(client, 4, selection=ChannelSelection.RUNNING).channels == ()
    assert info(client, CHANNELS).channels == ()  # no such channel: no record
    # An unsafe channel refuses to start until a schedule is assigned again.
    assert result(client, AssignScheduleRequest(channel_index=4, schedule="Rest.sdx")) == (4, 0)
    assert info(client, 4).channels[0].status is StatusCode.IDLE  # acknowledged
    sim.make_unsafe(5)
    assert result(client, StartRequest(test_name="t", channel_indexes=(4,))) == (4, 0x12)
    assert result(client, ContinueRequest(channel_indexes=(4,))) == (4, 0x16)
    assert result(client, AssignScheduleRequest(channel_index=4, schedule="Rest.sdx")) == (4, 0)
    assert result(client, StartRequest(test_name="t", channel_indexes=(4,))) == (4, 0)


def test_aux_bms_and_smb_parts_when_asked(sim: Simulator, client: RawClient) -> None:
    plain = info(client, 0).channels[0]
    assert not plain.aux and plain.bms == () and plain.smb == ()
    full = info(client, 0, aux_options=AuxOptions.ALL).channels[0]
    assert len(full.aux.voltage) == 1 and len(full.aux.temperature) == 1
    assert full.aux.temperature[0].value == pytest.approx(25.0, abs=0.5)
    assert full.aux.voltage[0].value == pytest.approx(full.voltage_v)
    assert [b.unit for b in full.bms] == ["%", "V", "degC"]
    assert full.bms[0].value == pytest.approx(50.0)
    assert [s.value for s in full.smb][2] == "SIM-0001"
    sim.set_aux(1, temperature_c=71.5)
    hot = info(client, 0, aux_options=AuxOptions.AUX).channels[0]
    assert hot.aux.temperature[0].value == pytest.approx(71.5)
    assert hot.bms == ()


def test_answer_all_reproduces_mits_10() -> None:
    with Simulator(channels=4, answer_all=True) as sim, RawClient(sim.host, sim.port) as client:
        client.login("admin", "admin")
        records = info(client, 2).channels
        assert [r.channel_index for r in records] == [0, 1, 2, 3]


def test_set_channel_status_pins_fields_and_status(sim: Simulator, client: RawClient) -> None:
    sim.set_channel_status(2, status=StatusCode.CHARGE, voltage_v=2.69, test_name="pinned")
    record = info(client, 1).channels[0]
    assert record.status is StatusCode.CHARGE
    assert record.voltage_v == pytest.approx(2.69) and record.test_name == "pinned"
    # A forced running status counts as running.
    assert result(client, AssignScheduleRequest(channel_index=1, schedule="Rest.sdx")) == (1, 0x14)
    sim.set_channel_status(2, release_status=True, voltage_v=None)
    record = info(client, 1).channels[0]
    assert record.status is StatusCode.IDLE and record.voltage_v > 3.0
    with pytest.raises(KeyError):
        sim.set_channel_status(1, no_such_field=1)
    with pytest.raises(ValueError):
        sim.set_channel_status(1, exit_condition="x" * 200)
    with pytest.raises(IndexError):
        sim.channel(CHANNELS + 1)


def test_start_ex_resume_ex_and_start_resume_data(client: RawClient) -> None:
    answers = results(
        client,
        StartExRequest(
            entries=(
                StartExEntry(
                    channel_index=0, test_name="ex", schedule="Cycle_CCCV.sdx", select_step=2
                ),
                StartExEntry(channel_index=1, test_name="ex", schedule="Missing.sdx"),
            )
        ),
        2,
    )
    assert answers == [(0, 0), (1, 0x14)]
    record = info(client, 0).channels[0]
    assert record.status is StatusCode.REST and "3: Rest_Charged" in record.step_and_cycle_format
    start_data = client.request(GetStartDataRequest(channel_indexes=(0, 77)))
    first, missing = start_data.records  # type: ignore[attr-defined]
    assert first.schedule == "Cycle_CCCV.sdx" and first.test_names == ("ex",)
    assert first.steps[0] == "CC_Charge" and missing.channel_code == 34
    assert result(client, StopRequest(channel_index=0)) == (0, 0)
    resume_data = client.request(GetResumeDataRequest(channel_indexes=(0, 1)))
    stopped, fresh = resume_data.records  # type: ignore[attr-defined]
    assert stopped.channel_code == 0 and stopped.test_name == "ex"
    assert stopped.resume_data.cycle == 1 and fresh.channel_code == 36
    answers = results(
        client,
        ResumeExRequest(
            entries=(
                ResumeExEntry(channel_index=0, test_name="ex", schedule="Cycle_CCCV.sdx"),
                ResumeExEntry(channel_index=1, test_name="new", schedule="Rest.sdx"),
            )
        ),
        2,
    )
    assert answers == [(0, 0), (1, 0)]
    assert [r.status for r in info(client).channels[:2]] == [StatusCode.REST, StatusCode.REST]


def test_serial_message_and_auto_calibration(sim: Simulator, client: RawClient) -> None:
    serial = client.request(GetSerialNumberRequest())
    assert serial.serial_number == sim.port and serial.result == 0  # type: ignore[attr-defined]
    assert client.result(SendMessageRequest(text="Hello [MITS]")) == 1
    assert client.result(SendMessageRequest(text=" ")) == 2
    assert sim.received_messages == ["Hello [MITS]"]
    assert client.result(AutoCalibrationRequest()) == 1
    assert result(client, AssignScheduleRequest(channel_index=0, schedule="Rest.sdx")) == (0, 0)
    assert result(client, StartRequest(test_name="t", channel_indexes=(0,))) == (0, 0)
    assert client.result(AutoCalibrationRequest()) == 2


def test_users_schedules_in_the_work_directory(sim: Simulator, client: RawClient) -> None:
    (sim.work_dir / "My_Charge.sdx").write_text(
        mits_text(
            [
                step(
                    "Charge",
                    "Current(A)",
                    "0.5",
                    limits=[limit(("PV_CHAN_Step_Time", ">=", "3600"))],
                )
            ]
        )
    )
    (sim.work_dir / "Broken.sdx").write_text(mits_text([step("Oops", "Teleport(A)", "1")]))
    assert result(client, AssignScheduleRequest(channel_index=0, schedule="My_Charge.sdx")) == (
        0,
        0,
    )
    assert result(client, AssignScheduleRequest(channel_index=1, schedule="Broken.sdx")) == (
        1,
        0x17,
    )
    assert result(client, StartRequest(test_name="mine", channel_indexes=(0,))) == (0, 0)
    record = info(client, 0).channels[0]
    assert record.status is StatusCode.CHARGE and record.current_a == pytest.approx(0.5)
