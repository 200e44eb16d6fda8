"""pyctiarbin.arbinspoofer.ArbinSpoofer: the seed's config keys and methods, backed by the
simulator (lenient like the seed's by default, strict on request)."""

from __future__ import annotations

import pytest

from pyctiarbin.arbinspoofer import ArbinSpoofer
from pyctiarbin.arbinspoofer.arbin_spoofer import ArbinSpoofer as SameSpoofer
from pyctiarbin.protocol import (
    AssignScheduleRequest,
    ChannelInfoFeedback,
    ChannelInfoRequest,
    SetMetaVariableRequest,
    StartRequest,
    StatusCode,
    StopRequest,
)
from pyctiarbin.simulator.rawclient import RawClient


def read(client: RawClient, index: int) -> ChannelInfoFeedback:
    answer = client.request(ChannelInfoRequest(channel_index=index))
    assert isinstance(answer, ChannelInfoFeedback)
    return answer


def test_seed_config_start_update_stop() -> None:
    assert SameSpoofer is ArbinSpoofer
    spoofer = ArbinSpoofer({"ip": "127.0.0.1", "port": 0, "num_channels": 16})
    spoofer.start()
    try:
        with RawClient("127.0.0.1", spoofer.port) as client:
            # Like the seed's spoofer: any credentials log in.
            login = client.login("fake username", "fake password")
            assert login.result == 1 and login.num_channels == 16
            before = read(client, 5).channels[0]
            assert before.channel_index == 5 and before.status is StatusCode.IDLE
            assert spoofer.update_channel_status(5, {"voltage_v": 2.69, "current_a": 1.19})
            after = read(client, 5).channels[0]
            assert after.voltage_v == pytest.approx(2.69)
            assert after.current_a == pytest.approx(1.19)
            assert spoofer.update_channel_status(5, {"status": "Charge", "testname": "t"})
            assert spoofer.update_channel_status(6, {"status": 8, "number_of_channels": 3})
            records = read(client, -1).channels
            assert records[5].status is StatusCode.CHARGE and records[5].test_name == "t"
            assert records[6].status is StatusCode.UNSAFE
            # Refused, changing nothing: unknown key, missing channel, a value that cannot fit.
            assert spoofer.update_channel_status(5, {"volts": 1.0}) is False
            assert spoofer.update_channel_status(16, {"voltage_v": 1.0}) is False
            assert spoofer.update_channel_status(5, {"exit_condition": "x" * 500}) is False
            assert spoofer.update_channel_status(5, {"status": "Sleeping"}) is False
            # Seed-like leniency: unknown schedules assign, MV on an idle channel is accepted,
            # stopping an idle channel succeeds.
            assert (
                client.result(AssignScheduleRequest(channel_index=1, schedule="Rest+207855.sdx"))
                == 0
            )
            assert client.result(SetMetaVariableRequest(channel_index=2, value=4.2)) == 0
            assert client.result(StopRequest(channel_index=3)) == 0
            assert client.result(StartRequest(test_name="fake", channel_indexes=(1,))) == 0
            assert read(client, 1).channels[0].status is StatusCode.REST
    finally:
        spoofer.stop()
        spoofer.stop()


def test_strict_spoofer_and_checked_users() -> None:
    config = {"ip": "127.0.0.1", "port": 0, "num_channels": 2, "strict": True}
    with ArbinSpoofer(config) as spoofer, RawClient("127.0.0.1", spoofer.port) as client:
        assert client.login("fake", "fake").result == 2
        assert client.login("admin", "admin").result == 1
        assert client.result(AssignScheduleRequest(channel_index=0, schedule="Nope.sdx")) == 0x13
        assert client.result(SetMetaVariableRequest(channel_index=0, value=1.0)) == 0x12
    users = {"ip": "127.0.0.1", "port": 0, "num_channels": 2, "users": "lab:pw"}
    with ArbinSpoofer(users) as spoofer, RawClient("127.0.0.1", spoofer.port) as client:
        assert client.login("admin", "admin").result == 2
        assert client.login("lab", "pw").result == 1
        assert client.result(AssignScheduleRequest(channel_index=0, schedule="Nope.sdx")) == 0


def test_missing_config_keys_and_use_before_start() -> None:
    with pytest.raises(KeyError):
        ArbinSpoofer({"ip": "127.0.0.1", "port": 0})
    spoofer = ArbinSpoofer({"ip": "127.0.0.1", "port": 0, "num_channels": 1})
    with pytest.raises(RuntimeError):
        spoofer.update_channel_status(0, {"voltage_v": 1.0})
    spoofer.stop()  # not started: nothing to do
