"""CyclerInterface against the simulator over real TCP: constructor, .env handling, login
feedback, channel reads and their wire addressing, and the seed's failure conventions."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import pytest
from interfaces_support import CHANNELS, PASSWORD, USER, RecordingRelay, cycler_config
from pydantic import ValidationError
from seed_keys import CHANNEL_STATUS_KEYS, CYCLER_CONFIG_DEFAULTS, LOGIN_FEEDBACK_KEYS

from pyctiarbin import CyclerInterface, LoginError
from pyctiarbin.errors import CtiConnectionError
from pyctiarbin.interfaces import ConnectFailed, CyclerInterfaceConfig, LoginFailed
from pyctiarbin.protocol import ChannelInfoRequest, ChannelSelection, LoginRequest
from pyctiarbin.simulator import Simulator

# -- constructor, login, configuration ---------------------------------------------------------


def test_constructor_logs_in_and_keeps_the_login_feedback(sim: Simulator, env_file: Path) -> None:
    with CyclerInterface(cycler_config(sim.host, sim.port), env_path=env_file) as cycler:
        feedback = cycler.get_login_feedback()
        assert list(feedback) == LOGIN_FEEDBACK_KEYS
        assert feedback["result"] == "success"
        assert feedback["num_channels"] == CHANNELS
        assert feedback["cycler_sn"] == sim.config.serial_number
        assert feedback["nick_name"] == sim.config.nickname
        assert feedback["header"] == 0x11DDDDDDDDDDDDDD
        assert feedback["command_code"] == 0xEEBA0001
        assert feedback["msg_length"] == 8678
        assert feedback["picture_length"] == 0
        assert cycler.get_num_channels() == CHANNELS
        # A copy: changing it does not change the interface.
        feedback["num_channels"] = 99
        assert cycler.get_login_feedback()["num_channels"] == CHANNELS
        assert USER not in repr(cycler) and PASSWORD not in repr(cycler)


def test_config_keys_and_defaults_are_the_seeds() -> None:
    config = CyclerInterfaceConfig(ip_address="10.0.0.2", port=9031)
    defaults = {name: getattr(config, name) for name in CYCLER_CONFIG_DEFAULTS}
    assert defaults == CYCLER_CONFIG_DEFAULTS
    assert set(CyclerInterfaceConfig.model_fields) == {
        "ip_address",
        "port",
        "timeout_s",
        "msg_buffer_size",
    }
    # Unknown keys are ignored, as 0.0.13's models did.
    assert (
        CyclerInterfaceConfig.model_validate({"ip_address": "h", "port": 1, "channel": 3}).port == 1
    )


def test_bad_config_raises_a_validation_error(env_file: Path) -> None:
    with pytest.raises(ValidationError, match="port"):
        CyclerInterface({"ip_address": "127.0.0.1"}, env_path=env_file)
    with pytest.raises(ValueError, match="timeout_s"):
        CyclerInterface({"ip_address": "127.0.0.1", "port": "x", "timeout_s": "soon"}, env_file)


def test_wrong_password_raises_like_the_seed(sim: Simulator, env_file: Path) -> None:
    env_file.write_text(f"ARBIN_CTI_USERNAME={USER}\nARBIN_CTI_PASSWORD=wrong-{PASSWORD}\n")
    with pytest.raises(LoginFailed) as caught:
        CyclerInterface(cycler_config(sim.host, sim.port), env_path=env_file)
    error = caught.value
    # 0.0.13 failed an assert here; the error is still an AssertionError, and a LoginError.
    assert isinstance(error, AssertionError)
    assert isinstance(error, LoginError)
    assert error.result == 2
    assert f"wrong-{PASSWORD}" not in str(error)


def test_unreachable_cycler_raises_connect_failed(env_file: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    with pytest.raises(ConnectFailed) as caught:
        CyclerInterface(cycler_config("127.0.0.1", free_port, timeout_s=1), env_path=env_file)
    assert isinstance(caught.value, AssertionError)
    assert isinstance(caught.value, CtiConnectionError)
    assert str(free_port) in str(caught.value)


def test_silent_cycler_raises_connect_failed_after_timeout_s(env_file: Path) -> None:
    with (
        Simulator(channels=2, users={USER: PASSWORD}, silent=True) as sim,
        pytest.raises(ConnectFailed, match="no answer"),
    ):
        CyclerInterface(cycler_config(sim.host, sim.port, timeout_s=0.3), env_path=env_file)


def test_missing_credentials_raise_value_error(sim: Simulator, env_file: Path) -> None:
    env_file.write_text(f"ARBIN_CTI_USERNAME={USER}\n")
    with pytest.raises(ValueError, match="ARBIN_CTI_PASSWORD"):
        CyclerInterface(cycler_config(sim.host, sim.port), env_path=env_file)
    env_file.write_text(f"ARBIN_CTI_USERNAME=\nARBIN_CTI_PASSWORD={PASSWORD}\n")
    with pytest.raises(ValueError, match="ARBIN_CTI_USERNAME"):
        CyclerInterface(cycler_config(sim.host, sim.port), env_path=env_file)


def test_env_file_in_working_directory_is_the_default(
    sim: Simulator, env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (env_file.parent / ".env").write_text(env_file.read_text())
    monkeypatch.chdir(env_file.parent)
    with CyclerInterface(cycler_config(sim.host, sim.port)) as cycler:
        assert cycler.get_login_feedback()["result"] == "success"


def test_env_file_wins_over_environment_and_environment_is_untouched(
    sim: Simulator, env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As 0.0.13's load_dotenv(override=True): the file's values beat the environment's.
    monkeypatch.setenv("ARBIN_CTI_USERNAME", USER)
    monkeypatch.setenv("ARBIN_CTI_PASSWORD", "not-the-password")
    with CyclerInterface(cycler_config(sim.host, sim.port), env_path=env_file) as cycler:
        assert cycler.get_login_feedback()["result"] == "success"
    assert os.environ["ARBIN_CTI_PASSWORD"] == "not-the-password"


def test_environment_is_used_when_the_env_file_is_missing(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARBIN_CTI_USERNAME", USER)
    monkeypatch.setenv("ARBIN_CTI_PASSWORD", PASSWORD)
    config = cycler_config(sim.host, sim.port)
    with CyclerInterface(config, env_path=tmp_path / "absent.env") as cycler:
        assert cycler.get_num_channels() == CHANNELS


def test_login_request_carries_the_env_credentials(relay: RecordingRelay, env_file: Path) -> None:
    with CyclerInterface(cycler_config(relay.host, relay.port), env_path=env_file):
        pass
    (login,) = relay.requests()
    assert isinstance(login, LoginRequest)
    assert (login.username, login.password) == (USER, PASSWORD)


def test_close_is_idempotent_and_later_reads_fail_by_convention(
    sim: Simulator, env_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cycler = CyclerInterface(cycler_config(sim.host, sim.port), env_path=env_file)
    cycler.close()
    cycler.close()
    with caplog.at_level(logging.ERROR, logger="pyctiarbin.interfaces"):
        assert cycler.read_channel_status(1) == {}
    assert "closed" in caplog.text


# -- read_channel_status -----------------------------------------------------------------------


def _info_requests(relay: RecordingRelay) -> list[ChannelInfoRequest]:
    return [m for m in relay.requests() if isinstance(m, ChannelInfoRequest)]


def test_read_channel_status_sends_channel_minus_one(
    sim: Simulator, relay: RecordingRelay, env_file: Path
) -> None:
    sim.set_channel_status(5, voltage_v=3.625, exit_condition="pinned for channel 5")
    with CyclerInterface(cycler_config(relay.host, relay.port), env_path=env_file) as cycler:
        status = cycler.read_channel_status(5)
        first = cycler.read_channel_status(1)
    assert list(status) == CHANNEL_STATUS_KEYS
    assert status["channel"] == 4
    assert status["voltage_v"] == 3.625
    assert status["exit_condition"] == "pinned for channel 5"
    assert status["status"] == "Idle"
    assert status["number_of_channels"] == 1
    assert first["channel"] == 0 and first["voltage_v"] != 3.625
    requests = _info_requests(relay)
    assert [r.channel_index for r in requests] == [4, 0]
    assert all(r.selection == ChannelSelection.ALL and r.aux_options == 0 for r in requests)


def test_answer_all_cycler_returns_the_requested_channel(env_file: Path) -> None:
    # MITS 10 answers a one-channel request with every channel; 0.0.13 took the first record.
    with Simulator(channels=CHANNELS, users={USER: PASSWORD}, answer_all=True) as sim:
        sim.set_channel_status(5, voltage_v=3.25)
        sim.set_channel_status(1, voltage_v=2.5)
        with CyclerInterface(cycler_config(sim.host, sim.port), env_path=env_file) as cycler:
            fifth = cycler.read_channel_status(5)
            last = cycler.read_channel_status(CHANNELS)
            first = cycler.read_channel_status(1)
    assert (fifth["channel"], fifth["voltage_v"]) == (4, 3.25)
    assert last["channel"] == CHANNELS - 1
    assert (first["channel"], first["voltage_v"]) == (0, 2.5)
    assert list(fifth) == CHANNEL_STATUS_KEYS


def test_channel_zero_reads_every_channel_and_returns_the_first_like_the_seed(
    sim: Simulator, relay: RecordingRelay, env_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim.set_channel_status(1, voltage_v=2.75)
    with CyclerInterface(cycler_config(relay.host, relay.port), env_path=env_file) as cycler:
        with caplog.at_level(logging.WARNING, logger="pyctiarbin.interfaces"):
            status = cycler.read_channel_status(0)
        single = cycler.read_channel_status(1)
    assert "channel 0 is not a channel" in caplog.text
    assert [r.channel_index for r in _info_requests(relay)] == [-1, 0]
    assert list(status) == CHANNEL_STATUS_KEYS
    assert (status["channel"], status["voltage_v"]) == (0, 2.75)
    assert status["number_of_channels"] == CHANNELS
    overhead = 20 + 4 + 2
    assert status["msg_length"] == overhead + CHANNELS * (single["msg_length"] - overhead)


@pytest.mark.parametrize("channel", [-1, CHANNELS + 1, 1000])
def test_out_of_range_channel_returns_empty_dict_and_sends_nothing(
    relay: RecordingRelay, env_file: Path, caplog: pytest.LogCaptureFixture, channel: int
) -> None:
    config = cycler_config(relay.host, relay.port)
    with (
        CyclerInterface(config, env_path=env_file) as cycler,
        caplog.at_level(logging.ERROR, logger="pyctiarbin.interfaces"),
    ):
        assert cycler.read_channel_status(channel) == {}
    assert f"invalid channel {channel}" in caplog.text
    assert _info_requests(relay) == []


def test_non_numeric_channel_raises_type_error_like_the_seed(
    sim: Simulator, env_file: Path
) -> None:
    config = cycler_config(sim.host, sim.port)
    with CyclerInterface(config, env_path=env_file) as cycler, pytest.raises(TypeError):
        cycler.read_channel_status("5")


def test_read_timeout_returns_empty_dict_logs_and_recovers(
    sim: Simulator, env_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = cycler_config(sim.host, sim.port, timeout_s=0.3)
    with CyclerInterface(config, env_path=env_file) as cycler:
        sim.set_faults(silent=True)
        with caplog.at_level(logging.ERROR, logger="pyctiarbin.interfaces"):
            assert cycler.read_channel_status(2) == {}
        assert "reading the status of channel 2 failed" in caplog.text
        assert "0.3 s" in caplog.text
        sim.set_faults()
        # Unlike 0.0.13, the next call reconnects and logs in again.
        assert cycler.read_channel_status(2)["channel"] == 1


def test_interface_is_closed_when_garbage_collected(sim: Simulator, env_file: Path) -> None:
    cycler = CyclerInterface(cycler_config(sim.host, sim.port), env_path=env_file)
    assert cycler.read_channel_status(1)["channel"] == 0
    client = cycler.client
    del cycler
    assert client.state.value == "closed"


def test_seed_channel_keys_keep_the_layout_of_0_0_13() -> None:
    # 0.0.13's message template: 4 header keys, the channel count, the 25 record fields (two
    # named differently from ours), 12 aux counts, BMS and SMB counts; then the two lists per
    # aux kind its aux parser added.
    keys = CHANNEL_STATUS_KEYS
    assert len(keys) == len(set(keys)) == 4 + 1 + 25 + 14 + 24
    assert keys[:10] == [
        "header",
        "msg_length",
        "command_code",
        "extended_command_code",
        "number_of_channels",
        "channel",
        "status",
        "comm_failure",
        "schedule",
        "testname",
    ]
    assert keys[29] == "aci_phase_degrees" and keys[30] == "aux_voltage_count"
    assert keys[42:46] == ["bms_count", "smb_count", "aux_voltage", "aux_voltage_dt"]
    assert keys[-2:] == ["aux_density", "aux_density_dt"]
