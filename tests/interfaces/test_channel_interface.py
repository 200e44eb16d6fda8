"""ChannelInterface against the simulator over real TCP: every command, its success and refusal
paths, the seed's return values, and the wire index of every request."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import pytest
from interfaces_support import CHANNELS, RecordingRelay, cycler_config
from pydantic import ValidationError
from seed_keys import CHANNEL_CONFIG_KEYS, CHANNEL_STATUS_KEYS

from pyctiarbin import ChannelInterface
from pyctiarbin.interfaces import ChannelInterfaceConfig
from pyctiarbin.protocol import (
    AssignScheduleRequest,
    ChannelInfoRequest,
    MetaCode,
    SetMetaVariableRequest,
    StartRequest,
    StatusCode,
    StopRequest,
)
from pyctiarbin.simulator import Simulator

LOG = "pyctiarbin.interfaces"


def channel_config(host: str, port: int, channel: int = 5, **extra: object) -> dict[str, object]:
    return cycler_config(
        host,
        port,
        channel=channel,
        test_name="seed_test",
        schedule_name="MV_Current.sdx",
        **extra,
    )


def wait_until(condition: object, timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def test_config_keys_defaults_and_channel_check() -> None:
    config = ChannelInterfaceConfig(ip_address="h", port=9031, channel=3)
    assert set(ChannelInterfaceConfig.model_fields) == CHANNEL_CONFIG_KEYS
    assert (config.test_name, config.schedule_name) == (None, None)
    assert (config.timeout_s, config.msg_buffer_size) == (3.0, 4096)
    assert (config.channel, config.channel_index) == (3, 2)
    with pytest.raises(ValidationError, match="channel must be 1 or more"):
        ChannelInterfaceConfig(ip_address="h", port=9031, channel=0)
    with pytest.raises(ValidationError, match="channel"):
        ChannelInterfaceConfig(ip_address="h", port=9031)  # type: ignore[call-arg]


def test_channel_zero_is_refused_before_connecting(env_file: Path) -> None:
    with pytest.raises(ValidationError):
        ChannelInterface(channel_config("127.0.0.1", 1, channel=0), env_path=env_file)


def test_full_test_cycle_on_channel_five(
    sim: Simulator, relay: RecordingRelay, env_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = channel_config(relay.host, relay.port)
    with caplog.at_level(logging.INFO, logger=LOG), ChannelInterface(config, env_file) as channel:
        idle = channel.read_channel_status()
        assert list(idle) == CHANNEL_STATUS_KEYS
        assert (idle["channel"], idle["status"]) == (4, "Idle")

        assert channel.assign_schedule() is True
        assert channel.start_test() is True
        wait_until(lambda: sim.channel(5).status.is_running)
        running = channel.read_channel_status()
        assert running["channel"] == 4
        assert running["testname"] == "seed_test"
        assert running["schedule"].startswith("MV_Current")
        assert StatusCode.IDLE not in {sim.channel(5).status}
        others = [n for n in range(1, CHANNELS + 1) if n != 5]
        assert all(sim.channel(n).status == StatusCode.IDLE for n in others)

        assert channel.set_meta_variable(1, 0.5) is True
        assert channel.set_meta_variable(16, -0.25) is True
        meta = sim.channel(5).meta_variables
        assert (meta[0], meta[15]) == (0.5, -0.25)

        assert channel.stop_test() is True
        wait_until(lambda: not sim.channel(5).status.is_running)
    assert "started test 'seed_test' with schedule 'MV_Current.sdx' on channel 5" in caplog.text

    requests = [m for m in relay.requests()[1:] if not isinstance(m, ChannelInfoRequest)]
    assigns = [m for m in requests if isinstance(m, AssignScheduleRequest)]
    # assign_schedule() once, and start_test() assigns again before starting, as 0.0.13 did.
    assert len(assigns) == 2
    for assign in assigns:
        assert (assign.channel_index, assign.assign_all) == (4, False)
        assert assign.schedule == "MV_Current.sdx"
        assert assign.capacity_ah == 1.0 and assign.barcode == ""
        assert tuple(assign.mv_ud) == (1.0,) * 16
    (start,) = [m for m in requests if isinstance(m, StartRequest)]
    assert (start.test_name, tuple(start.channel_indexes)) == ("seed_test", (4,))
    mvs = [m for m in requests if isinstance(m, SetMetaVariableRequest)]
    assert [(m.channel_index, m.meta_code, m.value) for m in mvs] == [
        (4, MetaCode.MV_UD1, 0.5),
        (4, MetaCode.MV_UD16, -0.25),
    ]
    assert all((m.mv_type, m.value_type) == (1, 1) for m in mvs)
    (stop,) = [m for m in requests if isinstance(m, StopRequest)]
    assert (stop.channel_index, stop.stop_all) == (4, False)
    infos = [m for m in relay.requests() if isinstance(m, ChannelInfoRequest)]
    assert {m.channel_index for m in infos} == {4}


@pytest.mark.parametrize(
    ("mv_num", "meta_code"),
    [(1, 52), (4, 55), (5, 105), (12, 112), (16, 116)],
)
def test_meta_variable_numbers_map_to_the_seeds_meta_codes(
    sim: Simulator, relay: RecordingRelay, env_file: Path, mv_num: int, meta_code: int
) -> None:
    with ChannelInterface(channel_config(relay.host, relay.port, channel=2), env_file) as channel:
        assert channel.start_test() is True
        assert channel.set_meta_variable(mv_num, 1.5) is True
        assert sim.channel(2).meta_variables[mv_num - 1] == 1.5
        assert channel.stop_test() is True
    (mv,) = [m for m in relay.requests() if isinstance(m, SetMetaVariableRequest)]
    assert (mv.channel_index, mv.meta_code) == (1, meta_code)


@pytest.mark.parametrize("mv_num", [0, 17, -1, "MV_UD1"])
def test_unknown_meta_variable_number_raises_key_error(
    relay: RecordingRelay, env_file: Path, mv_num: object
) -> None:
    config = channel_config(relay.host, relay.port)
    with ChannelInterface(config, env_file) as channel, pytest.raises(KeyError, match=r"1\.\.16"):
        channel.set_meta_variable(mv_num, 1.0)
    assert not [m for m in relay.requests() if isinstance(m, SetMetaVariableRequest)]


def test_meta_variable_on_idle_channel_is_false_and_logged(
    sim: Simulator, env_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = channel_config(sim.host, sim.port)
    with ChannelInterface(config, env_file) as channel, caplog.at_level(logging.ERROR, logger=LOG):
        assert channel.set_meta_variable(1, 2.0) is False
    assert "setting meta variable 1 to 2.0 on channel 5: the cycler refused" in caplog.text
    assert "not running" in caplog.text


@pytest.mark.parametrize("value", [math.nan, math.inf, 1e39])
def test_meta_variable_value_that_cannot_be_sent_is_false(
    sim: Simulator,
    relay: RecordingRelay,
    env_file: Path,
    caplog: pytest.LogCaptureFixture,
    value: float,
) -> None:
    with ChannelInterface(channel_config(relay.host, relay.port), env_file) as channel:
        assert channel.start_test() is True
        with caplog.at_level(logging.ERROR, logger=LOG):
            assert channel.set_meta_variable(1, value) is False
        assert channel.stop_test() is True
    assert "not sent" in caplog.text
    assert not [m for m in relay.requests() if isinstance(m, SetMetaVariableRequest)]


def test_stop_of_idle_channel_is_true(sim: Simulator, env_file: Path) -> None:
    with ChannelInterface(channel_config(sim.host, sim.port), env_file) as channel:
        assert channel.stop_test() is True
        assert sim.channel(5).status == StatusCode.IDLE


def test_missing_schedule_fails_assign_and_start_without_sending_start(
    sim: Simulator, relay: RecordingRelay, env_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = channel_config(relay.host, relay.port)
    config["schedule_name"] = "No_Such_Schedule.sdx"
    with ChannelInterface(config, env_file) as channel, caplog.at_level(logging.ERROR, logger=LOG):
        assert channel.assign_schedule() is False
        assert channel.start_test() is False
    assert "schedule not found" in caplog.text
    assert "No_Such_Schedule.sdx" in caplog.text
    assert not [m for m in relay.requests() if isinstance(m, StartRequest)]
    assert sim.channel(5).status == StatusCode.IDLE


def test_unset_schedule_or_test_name_fails_without_sending(
    relay: RecordingRelay, env_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    no_schedule = cycler_config(relay.host, relay.port, channel=3, test_name="t")
    no_test_name = cycler_config(relay.host, relay.port, channel=3, schedule_name="Rest.sdx")
    with caplog.at_level(logging.ERROR, logger=LOG):
        with ChannelInterface(no_schedule, env_file) as channel:
            assert channel.assign_schedule() is False
            assert channel.start_test() is False
        with ChannelInterface(no_test_name, env_file) as channel:
            assert channel.start_test() is False
    assert "schedule_name is not set" in caplog.text
    assert "test_name is not set" in caplog.text
    sent = relay.requests()
    assert not [m for m in sent if isinstance(m, (AssignScheduleRequest, StartRequest))]


def test_start_on_running_channel_is_false(
    sim: Simulator, env_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with ChannelInterface(channel_config(sim.host, sim.port), env_file) as channel:
        assert channel.start_test() is True
        with caplog.at_level(logging.ERROR, logger=LOG):
            assert channel.start_test() is False
            assert channel.assign_schedule() is False
        assert "channel is running" in caplog.text
        assert channel.stop_test() is True


def test_channel_beyond_the_cycler_fails_by_convention(
    relay: RecordingRelay, env_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = channel_config(relay.host, relay.port, channel=CHANNELS + 1)
    with ChannelInterface(config, env_file) as channel, caplog.at_level(logging.ERROR, logger=LOG):
        assert channel.read_channel_status() == {}
        assert channel.assign_schedule() is False
        assert channel.start_test() is False
        assert channel.stop_test() is False
        assert channel.set_meta_variable(1, 1.0) is False
    assert f"does not exist; this cycler has channels 1..{CHANNELS}" in caplog.text
    assert [type(m).__name__ for m in relay.requests()] == ["LoginRequest"]


def test_lost_answer_to_stop_is_false_with_outcome_unknown(
    sim: Simulator, env_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = channel_config(sim.host, sim.port, timeout_s=0.3)
    with ChannelInterface(config, env_file) as channel:
        assert channel.start_test() is True
        sim.set_faults(silent=True)
        with caplog.at_level(logging.WARNING, logger=LOG):
            assert channel.stop_test() is False
        assert "stopping the test on channel 5 failed" in caplog.text
        assert "may have carried it out" in caplog.text
        sim.set_faults()
        assert channel.stop_test() is True
