"""Every client command against the simulator, on the blocking and the asyncio client."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from pyctiarbin import (
    AsyncCyclerClient,
    BatchRejected,
    ChannelNotRunning,
    ChannelRunning,
    CommandRejected,
    CyclerClient,
    EncodeError,
    NoScheduleAssigned,
    ScheduleNotFound,
    TooFrequent,
)
from pyctiarbin.client import resume_ex_entry, start_ex_entry
from pyctiarbin.interfaces.seed_dicts import channel_status_dict
from pyctiarbin.protocol import ChannelSelection, StatusCode
from pyctiarbin.simulator import Simulator

from .conftest import Api, run_both


def test_both_clients_have_the_same_commands() -> None:
    def public(cls: type) -> dict[str, inspect.Signature]:
        members = {name: getattr(cls, name) for name in dir(cls) if not name.startswith("_")}
        return {
            name: inspect.signature(member)
            for name, member in members.items()
            if callable(member) and not isinstance(member, type)
        }

    sync, aio = public(CyclerClient), public(AsyncCyclerClient)
    assert set(sync) == set(aio)
    for name in sync:
        assert sync[name].parameters.keys() == aio[name].parameters.keys(), name
        assert inspect.iscoroutinefunction(getattr(AsyncCyclerClient, name)), name
    assert len(sync) >= 20


def test_login_info_and_reads(kind: str, sim: Simulator) -> None:
    async def body(api: Api) -> None:
        info = api.client.login_info
        assert info.num_channels == 8
        assert info.serial_number == sim.config.serial_number
        statuses = await api("read_channels")
        assert [s.channel for s in statuses] == list(range(1, 9))
        assert [s.channel_index for s in statuses] == list(range(8))
        assert all(s.status == StatusCode.IDLE for s in statuses)
        one = await api("read_channel", 5)
        assert one.channel == 5 and one.channel_index == 4
        assert 2.5 < one.voltage_v < 4.3
        some = await api("read_channels", [2, 7])
        assert [s.channel for s in some] == [2, 7]
        running = await api("read_channels", selection=ChannelSelection.RUNNING)
        assert running == []
        with_aux = await api("read_channel", 3, aux=True)
        assert len(with_aux.aux.temperature) >= 1
        assert 0.0 < with_aux.temperatures_c[0] < 60.0
        assert channel_status_dict(one)["channel"] == 4

    run_both(kind, sim, body)


def test_control_cycle(kind: str, sim: Simulator) -> None:
    async def body(api: Api) -> None:
        await api("assign_schedule", [1, 2], "CCCV_Charge.sdx")
        status = await api("read_channel", 1)
        assert status.schedule.lower() == "cccv_charge.sdx"
        await api("start", [1, 2], "client-test")
        running = await api("read_channels", selection=ChannelSelection.RUNNING)
        assert [s.channel for s in running] == [1, 2]
        assert running[0].test_name == "client-test"
        assert running[0].status.is_running
        await api("jump", 1, 2)
        await api("stop", 1)
        stopped = await api("read_channel", 1)
        assert not stopped.status.is_running
        await api("resume", 1)
        assert (await api("read_channel", 1)).status.is_running
        await api("stop", [1, 2])
        assert not any(s.status.is_running for s in await api("read_channels"))

    run_both(kind, sim, body)


def test_refusals_carry_the_documented_codes(kind: str, sim: Simulator) -> None:
    async def body(api: Api) -> None:
        with pytest.raises(ScheduleNotFound) as missing:
            await api("assign_schedule", 1, "No_Such_Schedule.sdx")
        assert missing.value.code == 0x13 and missing.value.channel == 1
        assert "not found" in missing.value.meaning
        with pytest.raises(NoScheduleAssigned) as unassigned:
            await api("start", 3, "x")
        assert unassigned.value.code == 0x15
        with pytest.raises(ChannelNotRunning) as idle_mv:
            await api("set_meta_variable", 4, "MV_UD1", 1.0)
        assert idle_mv.value.code == 0x12
        await api("assign_schedule", 5, "MV_Current.sdx")
        await api("start", 5, "mv")
        with pytest.raises(ChannelRunning) as assign_running:
            await api("assign_schedule", 5, "Rest.sdx")
        assert assign_running.value.code == 0x14
        with pytest.raises(ChannelRunning) as start_running:
            await api("start", 5, "again")
        assert start_running.value.code == 0x12
        await api("stop", 5)

    run_both(kind, sim, body)


def test_multi_channel_partial_refusal(kind: str, sim: Simulator) -> None:
    async def body(api: Api) -> None:
        await api("assign_schedule", [1, 2], "Rest.sdx")
        await api("start", 1, "first")
        with pytest.raises(BatchRejected) as batch:
            await api("start", [1, 2], "second")
        assert set(batch.value.rejections) == {1}
        assert batch.value.succeeded == [2]
        assert isinstance(batch.value.rejections[1], ChannelRunning)
        await api("stop", [1, 2])
        # Stopping idle channels has nothing to do and succeeds (v1.1 marks the 'not running'
        # stop result as unused), so stopping the whole cycler is safe to repeat.
        await api("stop", "all")
        await api("stop", "all")
        await api("assign_schedule", "all", "Rest.sdx")
        statuses = await api("read_channels")
        assert {s.schedule for s in statuses} == {"Rest.sdx"}

    run_both(kind, sim, body)


def test_meta_variables(kind: str, sim: Simulator) -> None:
    async def body(api: Api) -> None:
        await api("assign_schedule", [1, 2], "MV_Current.sdx")
        await api("start", [1, 2], "mv")
        await api("set_meta_variable", 1, 1, 0.5)
        await asyncio.sleep(0.25)
        await api("set_meta_variables", {1: {"MV_UD1": 1.5}, 2: {"MV_UD1": -1.0}})
        await asyncio.sleep(0.3)
        statuses = await api("read_channels", [1, 2])
        assert statuses[0].current_a == pytest.approx(1.5, abs=0.05)
        assert statuses[1].current_a == pytest.approx(-1.0, abs=0.05)
        with pytest.raises(TooFrequent):
            await api("set_meta_variables", {1: {"MV_UD1": 1.0}})
            await api("set_meta_variables", {1: {"MV_UD1": 1.1}})
        await api("stop", [1, 2])

    run_both(kind, sim, body)


def test_extended_commands(kind: str, sim: Simulator) -> None:
    async def body(api: Api) -> None:
        assert await api("serial_number") > 0
        await api("start_ex", [start_ex_entry(6, "ex-test", "Rest.sdx", step=1)])
        status = await api("read_channel", 6)
        assert status.status.is_running and status.test_name == "ex-test"
        start_data = await api("get_start_data", [6])
        assert start_data[0].channel_index == 5
        await api("stop", 6)
        resume_data = await api("get_resume_data", [6])
        assert resume_data[0].channel_index == 5
        await api("resume_ex", [resume_ex_entry(6, "ex-test", "Rest.sdx", step=1)])
        assert (await api("read_channel", 6)).status.is_running
        await api("stop", 6)
        await api("send_message", "hello from the client tests")
        await api("start_auto_calibration")
        assert await api("set_kick_out", 0) is True

    run_both(kind, sim, body)
    assert "hello from the client tests" in sim.received_messages


def test_arguments_are_checked_before_sending(kind: str, sim: Simulator) -> None:
    async def body(api: Api) -> None:
        for bad in (0, 9, -1):
            with pytest.raises(ValueError, match="channel"):
                await api("read_channel", bad)
        with pytest.raises(ValueError, match="finite"):
            await api("set_meta_variable", 1, 1, float("nan"))
        with pytest.raises(ValueError, match="meta variable"):
            await api("set_meta_variable", 1, "MV_UD17", 1.0)
        with pytest.raises(EncodeError, match="test_name"):
            await api("assign_schedule", 1, "Rest.sdx")
            await api("start", 1, "x" * 73)
        with pytest.raises(ValueError, match="schedule"):
            await api("assign_schedule", 1, "")
        # Nothing reached the cycler: channel 1 is still idle.
        assert (await api("read_channel", 1)).status == StatusCode.IDLE

    run_both(kind, sim, body)


def test_refusal_is_a_command_rejected(kind: str, sim: Simulator) -> None:
    async def body(api: Api) -> None:
        with pytest.raises(CommandRejected) as error:
            await api("jump", 2, 1)
        assert isinstance(error.value, ChannelNotRunning)
        assert error.value.command == "jump"
        assert error.value.channel == 2
        assert error.value.code == 0x12
        assert "not running" in str(error.value)

    run_both(kind, sim, body)


def test_a_command_takes_the_arguments_its_builder_declares() -> None:
    # Each command method is written out with its builder's parameters: every kind of
    # parameter reaches the builder as given, and mistakes fail as for the builder itself.
    from pyctiarbin.client.clients import _forwarder

    class Link:
        def run(self, built: object) -> object:
            return ("ran", built)

    class Client:
        _link = Link()

    def build(client, first, /, second, third=3, *more, fourth, fifth=5, **rest):  # type: ignore[no-untyped-def]
        return (first, second, third, more, fourth, fifth, rest)

    forward = _forwarder(build, asynchronous=False)
    assert str(inspect.signature(forward)) == str(inspect.signature(build))
    client = Client()
    assert forward(client, 1, 2, fourth=4) == ("ran", (1, 2, 3, (), 4, 5, {}))
    extra = forward(client, 1, second=2, fourth=4, extra=6)
    assert extra == ("ran", (1, 2, 3, (), 4, 5, {"extra": 6}))
    assert forward(client, 1, 2, 30, 31, 32, fourth=4, fifth=50)[1][2:6] == (30, (31, 32), 4, 50)
    with pytest.raises(TypeError, match="fourth"):
        forward(client, 1, 2)
    with pytest.raises(TypeError, match="'first'"):  # positional only, as declared
        forward(client, first=1, second=2, fourth=4)

    class AsyncLink:
        async def run(self, built: object) -> object:
            return ("awaited", built)

    class AsyncClient:
        _link = AsyncLink()

    def keyword_only(client, *, value=7):  # type: ignore[no-untyped-def]
        return value

    awaited = _forwarder(keyword_only, asynchronous=True)
    assert inspect.iscoroutinefunction(awaited)
    assert asyncio.run(awaited(AsyncClient())) == ("awaited", 7)
    assert asyncio.run(awaited(AsyncClient(), value=8)) == ("awaited", 8)

    def shadowing(client, _build):  # type: ignore[no-untyped-def]
        return _build

    with pytest.raises(TypeError, match="must not start with '_'"):
        _forwarder(shadowing, asynchronous=False)
