"""The commands of newer servers (ArbinCTI.dll beyond the documents), each against a
simulator answering as a version that has it, on both clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyctiarbin import BatchRejected, CommandRejected, UnsupportedCommand
from pyctiarbin.protocol import CommandCode, MachineType, StatusCode
from pyctiarbin.simulator import Simulator

from .conftest import PASSWORD, USER, Api, run_both


def _sim(version: str) -> Simulator:
    return Simulator(channels=4, users={USER: PASSWORD}, speed=60.0, server_version=version)


@pytest.fixture
def mitsx8() -> Iterator[Simulator]:
    with _sim("MitsX_8") as simulator:
        yield simulator


@pytest.fixture
def sptt() -> Iterator[Simulator]:
    with _sim("SPTT") as simulator:
        yield simulator


def test_meta_variable_reads_and_sets(kind: str, mitsx8: Simulator) -> None:
    async def body(api: Api) -> None:
        await api("assign_schedule", [1, 2], "CCCV_Charge.sdx")
        await api("start", [1, 2], "mv-test")
        await api("set_meta_variables", {1: {1: 1.5, "MV_UD16": -4.0}, 2: {3: 9.0}})
        values = await api("get_meta_variables", [1, 2], [1, "MV_UD16", "PV_Voltage", 3])
        assert values[1][1] == pytest.approx(1.5)
        assert values[1]["MV_UD16"] == pytest.approx(-4.0)
        assert values[2][3] == pytest.approx(9.0)
        voltage = mitsx8.channel(1).record.voltage_v
        assert values[1]["PV_Voltage"] == pytest.approx(voltage, abs=0.05)
        current, volts = await api("read_current_voltage", 2)
        assert volts == pytest.approx(mitsx8.channel(2).record.voltage_v, abs=0.05)
        assert current > 0  # charging
        answers = await api("set_meta_variables_time_sensitive", {1: {"MV_UD5": 5.5}, 2: {4: 4.0}})
        assert [a.channel_index for a in answers] == [0, 1]
        assert answers[0].mv_ud[4] == pytest.approx(5.5)
        assert answers[1].mv_ud[3] == pytest.approx(4.0)
        assert answers[0].voltage_v > 2.5
        assert mitsx8.channel(2).meta_variables[3] == pytest.approx(4.0)
        await api("stop", [1, 2])
        # A channel that is not running refuses the time-sensitive set.
        with pytest.raises(CommandRejected) as refused:
            await api("set_meta_variables_time_sensitive", {3: {1: 1.0}})
        assert refused.value.channel == 3 and refused.value.code == 0x10

    run_both(kind, mitsx8, body)


def test_extended_mv_update_per_value_results(kind: str, sptt: Simulator) -> None:
    async def body(api: Api) -> None:
        await api("assign_schedule", 1, "CCCV_Charge.sdx")
        await api("start", 1, "ex-mv")
        await api("set_meta_variables_ex", {1: {"MV_UD7": 7.25}})
        assert sptt.channel(1).meta_variables[6] == pytest.approx(7.25)
        # Channel 2 is not running: its value is refused, channel 1's is set.
        with pytest.raises(BatchRejected) as raised:
            await api("set_meta_variables_ex", [(1, 8, 8.0), (2, 8, 8.0)])
        assert set(raised.value.rejections) == {2}
        assert raised.value.rejections[2].code == 0x12
        assert raised.value.succeeded == [1]
        await api("stop", 1)

    run_both(kind, sptt, body)


def test_compact_and_extended_channel_data(kind: str, mitsx8: Simulator) -> None:
    async def body(api: Api) -> None:
        await api("assign_schedule", 2, "CCCV_Charge.sdx")
        await api("start", 2, "simple")
        simple = await api("read_channels_simple")
        assert [r.channel_index for r in simple] == [0, 1, 2, 3]
        assert simple[1].status.is_running and simple[0].status == StatusCode.IDLE
        assert 2.5 < simple[0].voltage_v < 4.3
        assert len(simple[0].aux.temperature) == 1
        some = await api("read_channels_simple", [2, 4])
        assert [r.channel_index for r in some] == [1, 3]
        objects = await api("read_test_objects", [3])
        assert [o.channel_index for o in objects] == [2]
        assert objects[0].nominal_capacity == pytest.approx(mitsx8.config.cell.capacity_ah)
        assert objects[0].test_object_name
        await api("stop", 2)

    run_both(kind, mitsx8, body)


def test_barcodes(kind: str, mitsx8: Simulator) -> None:
    async def body(api: Api) -> None:
        await api("set_barcodes", {1: "CELL-0001", 3: "CELL-0003"})
        assert await api("get_barcodes", [1, 2, 3]) == {1: "CELL-0001", 2: "", 3: "CELL-0003"}
        assert (await api("read_channel", 3)).barcode == "CELL-0003"
        await api("assign_schedule", 4, "Rest.sdx")
        await api("start", 4, "busy")
        with pytest.raises(CommandRejected) as refused:
            await api("set_barcodes", {4: "X"})
        assert refused.value.code == 0x11 and refused.value.channel == 4
        await api("stop", 4)
        with pytest.raises(ValueError, match="72"):
            await api("set_barcodes", {1: "x" * 73})

    run_both(kind, mitsx8, body)


def test_system_queries(kind: str, mitsx8: Simulator) -> None:
    async def body(api: Api) -> None:
        assert await api("machine_type") == MachineType.IV
        assert await api("server_software_version") == mitsx8.config.software_version
        assert await api("string_limits") == {1: 1024}
        await api("set_data_log_interval", 0.5)
        with pytest.raises(CommandRejected, match="interval") as refused:
            await api("set_data_log_interval", 7200.0)
        assert refused.value.code == 3
        mapping = await api("aux_mapping")
        assert mapping[1] == {"VOLTAGE": 1, "TEMPERATURE": 1} and sorted(mapping) == [1, 2, 3, 4]

    run_both(kind, mitsx8, body)


def test_trays_on_sptt_only(kind: str, sptt: Simulator, mitsx8: Simulator) -> None:
    async def body(api: Api) -> None:
        assert await api("machine_type") == MachineType.SPTT
        await api("engage_trays", {1: True})
        status = await api("tray_status", [0, 1])
        assert [t["IsEngagementDown"] for t in status] == [False, True]
        with pytest.raises(CommandRejected) as refused:
            await api("tray_status", [9])
        assert refused.value.code == 0x11

    run_both(kind, sptt, body)
    before = len(mitsx8.received_codes)

    async def refused_locally(api: Api) -> None:
        with pytest.raises(UnsupportedCommand, match="MitsX_SPTT"):
            await api("tray_status", [0])

    run_both(kind, mitsx8, refused_locally)
    assert CommandCode.GET_TRAY_STATUS not in mitsx8.received_codes[before:]


def test_files_schedules_and_advanced_start(kind: str, mitsx8: Simulator) -> None:
    async def body(api: Api) -> None:
        await api.files("upload", "Work\\mine.sdx", b"not really a schedule")
        check = await api("check_file", "Work\\mine.sdx", b"not really a schedule")
        assert (check.path_exists, check.name_exists, check.md5_matches) == (True, True, True)
        assert check.server_path.endswith("mine.sdx")
        other = await api("check_file", "Work/mine.sdx", b"other bytes")
        assert other.name_exists and not other.md5_matches
        missing = await api("check_file", "Work\\none.sdx")
        assert not missing.name_exists and missing.path_exists
        await api("assign_file", [1, 2], "CCCV_Charge.sdx")
        assert (await api("read_channel", 2)).schedule.lower() == "cccv_charge.sdx"
        with pytest.raises(CommandRejected) as refused:
            await api("assign_file", 1, "chart.xml", kind=6)
        assert refused.value.code == 0x19
        await api("modify_schedule", [{"ScheduleName": "CCCV_Charge.sdx"}])
        with pytest.raises(CommandRejected, match="no_such") as not_found:
            await api("modify_schedule", [{"ScheduleName": "no_such.sdx"}])
        assert not_found.value.code == 0x12
        await api("start_advanced", [3, 4], "adv", "Rest.sdx", barcode="ADV-1")
        statuses = await api("read_channels", [3, 4])
        assert all(s.status.is_running and s.test_name == "adv" for s in statuses)
        assert statuses[0].barcode == "ADV-1"
        with pytest.raises(BatchRejected) as both:
            await api("start_advanced", [3, 4], "again", "Rest.sdx")
        assert set(both.value.rejections) == {3, 4}
        await api("stop", "all")

    run_both(kind, mitsx8, body)
