"""The lab config file (pyctiarbin.config): loading, cycler specs, credentials."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pyctiarbin.config import (
    ConfigError,
    CyclerAddress,
    LabConfig,
    load_lab_config,
    parse_host_port,
    resolve_cycler,
    resolve_lab_credentials,
)
from pyctiarbin.simulator import Simulator

from .support import PASSWORD, USER, RunPycti, lines

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_load_cyclers_and_env_file_relative_to_the_config(tmp_path: Path) -> None:
    config = load_lab_config(
        _write(
            tmp_path / "lab.toml",
            """
            [credentials]
            env_file = "secrets/cti.env"

            [cyclers.bay1]
            host = "10.0.0.21"

            [cyclers.bay-2]
            host = "10.0.0.22"
            port = 9100
            file_port = 9101
            """,
        )
    )

    assert config.credentials.env_file == tmp_path / "secrets" / "cti.env"
    assert config.cyclers["bay1"] == CyclerAddress("10.0.0.21", 9031, 9032, "bay1")
    assert config.cyclers["bay-2"] == CyclerAddress("10.0.0.22", 9100, 9101, "bay-2")
    assert str(config.cyclers["bay-2"]) == "bay-2 (10.0.0.22:9100)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[cyclers.a]\nport = 1\n", "[cyclers.a] lacks the host key"),
        ('[cyclers.a]\nhost = "h"\nport = 70000\n', "port must be a TCP port number"),
        ('[cyclers.a]\nhost = "h"\nadress = "x"\n', "unknown key(s) adress"),
        ('[credentials]\nuser = "x"\n', "unknown key(s) user"),
        ('cycler = "x"\n', "unknown top-level key(s) cycler"),
        ("[cyclers\n", "is not valid TOML"),
        ('[credentials]\nenv_file = "a.env"\npassword = "p"\n', "gives both env_file and password"),
    ],
)
def test_config_errors_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path / "lab.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_lab_config(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_lab_config(tmp_path / "nope.toml")


@posix_only
def test_password_only_in_a_file_others_cannot_read(tmp_path: Path) -> None:
    text = '[credentials]\nusername = "u"\npassword = "Secret-Pw-123"\n'
    readable = _write(tmp_path / "open.toml", text, mode=0o644)
    with pytest.raises(ConfigError) as caught:
        load_lab_config(readable)
    assert "other users may read it" in str(caught.value)
    assert "chmod o-rwx" in str(caught.value)
    assert "Secret-Pw-123" not in str(caught.value)

    private = load_lab_config(_write(tmp_path / "private.toml", text, mode=0o600))
    assert private.credentials.password == "Secret-Pw-123"
    assert "Secret-Pw-123" not in repr(private)


def test_resolve_cycler_specs(tmp_path: Path) -> None:
    config = load_lab_config(_write(tmp_path / "lab.toml", '[cyclers.bay1]\nhost = "h1"\n'))

    assert resolve_cycler("bay1", config) == CyclerAddress("h1", 9031, 9032, "bay1")
    assert resolve_cycler("bay1", config, file_port=9999).file_port == 9999
    # No file port given: the control port + 1, as MITS (and pycti sim) serve them.
    assert resolve_cycler("10.1.2.3:9100") == CyclerAddress("10.1.2.3", 9100, 9101)
    assert resolve_cycler("north=10.1.2.3:9100") == CyclerAddress("10.1.2.3", 9100, 9101, "north")
    with pytest.raises(ConfigError, match="no next port"):
        resolve_cycler("h:65535")
    assert resolve_cycler("h:65535", file_port=9032).file_port == 9032
    assert resolve_cycler("[::1]:9031").host == "::1"
    assert str(resolve_cycler("[::1]:9031")) == "[::1]:9031"
    with pytest.raises(ConfigError, match=r"unknown cycler 'bay9'.*names these cyclers: bay1"):
        resolve_cycler("bay9", config)
    with pytest.raises(ConfigError, match="no config file was given"):
        resolve_cycler("bay1", None)
    with pytest.raises(ConfigError, match=r"not a number in 1\.\.65535"):
        resolve_cycler("host:0")
    with pytest.raises(ConfigError, match="no host"):
        parse_host_port(":9031")
    with pytest.raises(ConfigError, match="cycler name"):
        resolve_cycler("bad name=h:1")


def test_credentials_order_and_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env_file = _write(
        tmp_path / "cti.env", "ARBIN_CTI_USERNAME=fileuser\nARBIN_CTI_PASSWORD=filepw\n"
    )
    config_path = _write(tmp_path / "lab.toml", '[credentials]\nusername = "cfguser"\n')
    config = load_lab_config(config_path)

    from_file = resolve_lab_credentials(None, env_file=env_file, environ={})
    assert (from_file.username, from_file.password) == ("fileuser", "filepw")
    assert from_file.source == str(env_file)

    # The environment wins over files, --user over everything; each value on its own.
    mixed = resolve_lab_credentials(
        config, username="cliuser", env_file=env_file, environ={"ARBIN_CTI_PASSWORD": "envpw"}
    )
    assert (mixed.username, mixed.password) == ("cliuser", "envpw")
    assert mixed.source == "--user + environment"

    from_config = resolve_lab_credentials(config, environ={"ARBIN_CTI_PASSWORD": "envpw"})
    assert from_config.username == "cfguser"

    with pytest.raises(ConfigError, match="no CTI password found"):
        resolve_lab_credentials(config, environ={})
    with pytest.raises(ConfigError, match=r"credentials file .* does not exist"):
        resolve_lab_credentials(LabConfig(), env_file=tmp_path / "missing.env", environ={})


def test_config_file_names_the_cycler_and_the_credentials(
    sim: Simulator, run_pycti: RunPycti, tmp_path: Path
) -> None:
    _write(tmp_path / "cti.env", f"ARBIN_CTI_USERNAME={USER}\nARBIN_CTI_PASSWORD={PASSWORD}\n")
    lab = _write(
        tmp_path / "lab.toml",
        f"""
        [credentials]
        env_file = "cti.env"

        [cyclers.bay1]
        host = "{sim.host}"
        port = {sim.port}
        file_port = {sim.file_port}
        """,
    )

    by_name = run_pycti(
        "status",
        "--config",
        str(lab),
        "--cycler",
        "bay1",
        "-f",
        "json",
        "-c",
        "4",
        credentials=False,
    )
    assert by_name.returncode == 0, by_name.stderr
    document = json.loads(by_name.stdout)
    assert document["cycler"] == "bay1"
    assert [c["channel"] for c in document["channels"]] == [4]

    # PYCTI_CONFIG names the file; its only cycler is the default.
    info = run_pycti("info", "-f", "json", credentials=False, env={"PYCTI_CONFIG": str(lab)})
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["credentials_source"] == str(tmp_path / "cti.env")


@posix_only
def test_world_readable_password_is_refused_by_the_command(
    sim: Simulator, run_pycti: RunPycti, tmp_path: Path
) -> None:
    lab = _write(
        tmp_path / "lab.toml",
        f'[credentials]\nusername = "{USER}"\npassword = "{PASSWORD}"\n'
        f'[cyclers.bay1]\nhost = "{sim.host}"\nport = {sim.port}\n',
        mode=0o644,
    )

    result = run_pycti("status", "--config", str(lab), credentials=False)

    assert result.returncode == 2
    (line,) = lines(result.stderr)
    assert line.startswith(f"pycti: error: {lab} holds a password but other users may read it")
    assert PASSWORD not in result.stdout + result.stderr
