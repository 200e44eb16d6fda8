"""Failures end in one line on stderr and a documented exit code, never a traceback (unless
``--debug``), and never show a password."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctiarbin.cli import run
from pyctiarbin.cli.common import ExitCode, settings
from pyctiarbin.simulator import Simulator

from .support import PASSWORD, USER, RunPycti, address, lines


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_wrong_password_fails_without_showing_any_password(
    sim: Simulator, run_pycti: RunPycti
) -> None:
    wrong = "Wr0ng-pa55-Qx7"
    result = run_pycti("status", *address(sim), env={"ARBIN_CTI_PASSWORD": wrong})

    assert result.returncode == ExitCode.LOGIN
    assert result.stdout == ""
    assert lines(result.stderr) == [
        f"pycti: error: login refused: cycler {sim.host}:{sim.port} refused the login of user "
        f"'{USER}': login failed: wrong user name or password, or no CTI permission"
    ]
    for secret in (wrong, PASSWORD):
        assert secret not in result.stdout + result.stderr


def test_unreachable_cycler(run_pycti: RunPycti) -> None:
    port = _closed_port()
    result = run_pycti("info", "--host", "127.0.0.1", "--port", str(port))

    assert result.returncode == ExitCode.CONNECTION
    assert result.stdout == ""
    assert lines(result.stderr) == [
        f"pycti: error: connection failed: cannot connect to cycler 127.0.0.1:{port}: "
        "Connection refused"
    ]


def test_silent_cycler_times_out(run_pycti: RunPycti) -> None:
    with Simulator(channels=2, users={USER: PASSWORD}, silent=True) as silent:
        result = run_pycti("status", *address(silent), "--timeout", "0.3")

    assert result.returncode == ExitCode.CONNECTION
    assert lines(result.stderr) == [
        f"pycti: error: timeout: login: no answer from cycler {silent.host}:{silent.port} "
        "within 0.3 s"
    ]


# In-process runs of the same entry point, for errors found before anything is sent.


@pytest.fixture
def clean_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No credentials or pycti settings in the environment; an empty working directory."""
    for key in ("ARBIN_CTI_USERNAME", "ARBIN_CTI_PASSWORD", "PYCTI_CONFIG", "PYCTI_DEBUG"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(settings, "debug", False)
    yield tmp_path


def test_missing_credentials_are_a_configuration_error(
    clean_process: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["status", "--host", "127.0.0.1", "--port", str(_closed_port())])

    assert code == ExitCode.USAGE
    err = capsys.readouterr().err
    assert lines(err) == [
        "pycti: error: no CTI user name and no password found; looked in: environment, "
        f"{clean_process / '.env'} (absent)"
    ]


def test_bad_option_is_one_usage_line(
    clean_process: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["status", "--host", "h", "--format", "xml"])

    assert code == ExitCode.USAGE
    (line,) = lines(capsys.readouterr().err)
    assert line.startswith("pycti status: error: Invalid value for '--format'")
    assert line.endswith("(see 'pycti status --help')")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stop", "--host", "h"], "which channels? give --channel N"),
        (["stop", "--host", "h", "-c", "1", "--all"], "give either --channel or --all"),
        (["stop", "--host", "h", "-c", "3-1"], "--channel '3-1': channels start at 1"),
        (["jump", "2", "--host", "h", "-c", "x"], "--channel 'x': expected a channel number"),
        (["mv", "set", "17=1", "--host", "h", "-c", "1"], "mv set '17=1': expected VAR=VALUE"),
        (["mv", "set", "1=nan", "--host", "h", "-c", "1"], "mv set '1=nan': expected VAR=VALUE"),
        (["status", "--host", "h", "-n", "2"], "--count needs --watch"),
        (
            ["status", "--host", "h", "--cycler", "a:1"],
            "give the cycler either with --cycler or with --host",
        ),
        (["status", "--cycler", "bay1"], "cycler 'bay1' is a name, but no config file"),
        (["status"], "which cycler? give --host HOST"),
    ],
)
def test_argument_errors_before_connecting(
    clean_process: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code = run(argv)

    assert code == ExitCode.USAGE
    (line,) = lines(capsys.readouterr().err)
    assert line.startswith(f"pycti: error: {message}"), line


def test_get_does_not_overwrite_a_local_file(
    clean_process: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (clean_process / "Keep.sdx").write_text("mine")

    code = run(["files", "get", "Work/Keep.sdx", "--host", "127.0.0.1"])

    assert code == ExitCode.USAGE
    assert lines(capsys.readouterr().err) == [
        "pycti: error: Keep.sdx exists; add --force to overwrite it"
    ]
    assert (clean_process / "Keep.sdx").read_text() == "mine"


def test_debug_shows_the_traceback(
    clean_process: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARBIN_CTI_USERNAME", USER)
    monkeypatch.setenv("ARBIN_CTI_PASSWORD", PASSWORD)
    port = _closed_port()

    code = run(["--debug", "status", "--host", "127.0.0.1", "--port", str(port)])

    assert code == ExitCode.CONNECTION
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "CtiConnectionError" in err
    assert err.rstrip().endswith("Connection refused")
    assert PASSWORD not in err


@pytest.mark.parametrize("password", ["pa\u20acss-Qx7", "caf\u00e9-Qx7", "\u7535\u6c60-Qx7"])
def test_a_non_ascii_password_is_a_usage_error_that_quotes_none_of_it(
    sim: Simulator, run_pycti: RunPycti, password: str
) -> None:
    result = run_pycti("status", *address(sim), env={"ARBIN_CTI_PASSWORD": password})

    assert result.returncode == ExitCode.USAGE
    assert lines(result.stderr) == [
        "pycti: error: invalid argument: the CTI password (from environment) contains a "
        "character that is not ASCII (or a NUL); CTI passwords are ASCII only (the password "
        "is not shown)"
    ]
    # Neither a non-ASCII character of the password nor its distinctive tail is shown.
    shown = result.stdout + result.stderr
    assert password[-3:] not in shown
    assert not any(char in shown for char in password if not char.isascii())
    assert sim.session_count == 0  # refused before connecting


def test_a_too_long_password_does_not_tell_its_length(sim: Simulator, run_pycti: RunPycti) -> None:
    password = "x" * 33 + "-Qx7"
    result = run_pycti("status", *address(sim), env={"ARBIN_CTI_PASSWORD": password})

    assert result.returncode == ExitCode.USAGE
    assert lines(result.stderr) == [
        "pycti: error: invalid argument: the CTI password (from environment) is longer than "
        "32 characters, the most CTI can carry"
    ]
    assert "37" not in result.stderr and "Qx7" not in result.stderr


def test_a_non_ascii_user_name_is_a_usage_error_naming_it(
    sim: Simulator, run_pycti: RunPycti
) -> None:
    result = run_pycti(
        "status",
        *address(sim),
        env={"ARBIN_CTI_USERNAME": "j\u00fcrgen", "ARBIN_CTI_PASSWORD": "p"},
    )

    assert result.returncode == ExitCode.USAGE
    assert lines(result.stderr) == [
        "pycti: error: invalid argument: the CTI user name 'j\u00fcrgen' (from environment) "
        "contains '\u00fc'; CTI user names are ASCII, without NUL"
    ]


def test_the_clients_refuse_a_non_ascii_password_without_quoting_it(sim: Simulator) -> None:
    from pyctiarbin import AsyncCyclerClient, CyclerClient
    from pyctiarbin.errors import CtiError

    for client_class in (CyclerClient, AsyncCyclerClient):
        with pytest.raises(ValueError) as caught:
            client_class(sim.host, sim.port, username="admin", password="s\u20accret-Qx7")
        assert not isinstance(caught.value, CtiError)
        assert "\u20ac" not in str(caught.value) and "Qx7" not in str(caught.value)
        assert "password (from arguments)" in str(caught.value)
    assert sim.session_count == 0


@pytest.mark.parametrize("command", [("status",), ("status", "-f", "json"), ("info",)])
def test_the_file_port_is_not_taken_for_a_control_port(
    sim: Simulator, run_pycti: RunPycti, command: tuple[str, ...]
) -> None:
    # The file port answers a login, but no read of the channels: no empty table, exit 3.
    assert sim.file_port is not None
    result = run_pycti(*command, "--host", sim.host, "--port", str(sim.file_port))

    assert result.returncode == ExitCode.CONNECTION
    assert result.stdout == ""
    assert lines(result.stderr) == [
        f"pycti: error: {sim.host}:{sim.file_port} answered a read of every channel with no "
        f"channel: is {sim.file_port} its CTI control port? (MITS listens on 9031 for control "
        "and on the next port for files; give the control port with --port)"
    ]
