"""`python -m pyctiarbin.simulator` / run(): options mapped onto SimulatorConfig, the
credentials' source, start-up lines, a clean stop on Ctrl-C."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyctiarbin.simulator import (
    Faults,
    build_arg_parser,
    config_from_args,
    config_from_options,
    parse_users,
    resolve_users,
)
from pyctiarbin.simulator.process import SimulatorProcess
from pyctiarbin.simulator.rawclient import RawClient


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBIN_CTI_")}
    env.update(extra)
    return env


def test_every_pycti_sim_option_maps_onto_the_config(tmp_path: Path) -> None:
    args = build_arg_parser().parse_args(
        [
            "--host", "0.0.0.0", "--port", "9100", "--file-port", "9101", "--channels", "64",
            "--users", "a:1,b:2", "--speed", "60", "--root", str(tmp_path), "--answer-all",
            "--latency", "0.5", "--drop-after", "3", "--corrupt-every", "4",
            "--split-writes", "16", "--stray-bytes", "2", "--silent",
        ]
    )  # fmt: skip
    config, source = config_from_args(args)
    assert (config.host, config.port, config.file_port) == ("0.0.0.0", 9100, 9101)
    assert config.channels == 64 and config.speed == 60.0 and config.answer_all
    assert dict(config.users) == {"a": "1", "b": "2"} and source == "--users"
    assert config.root == str(tmp_path)
    assert config.faults == Faults(
        latency_s=0.5,
        drop_after_frames=3,
        corrupt_checksum_every=4,
        split_writes=16,
        stray_bytes=2,
        silent=True,
    )
    defaults, _ = config_from_args(build_arg_parser().parse_args(["--no-file-port"]))
    assert defaults.port == 9031 and defaults.file_port is None and not defaults.faults.active
    assert config_from_options(channels=3)[0].file_port == 9032


def test_users_come_from_option_environment_dotenv_or_default(tmp_path: Path) -> None:
    assert parse_users("x:y, z:w:colon") == {"x": "y", "z": "w:colon"}
    with pytest.raises(ValueError):
        parse_users("nocolon")
    environ = {"ARBIN_CTI_USERNAME": "envuser", "ARBIN_CTI_PASSWORD": "envpass"}
    users, source = resolve_users(None, environ=environ)
    assert users == {"envuser": "envpass"} and source.startswith("environment")
    dotenv = tmp_path / ".env"
    dotenv.write_text("ARBIN_CTI_USERNAME=fileuser\nARBIN_CTI_PASSWORD=filepass\n")
    users, source = resolve_users(None, env_path=dotenv, environ={})
    assert users == {"fileuser": "filepass"} and source == f".env file {dotenv}"
    users, source = resolve_users(None, env_path=tmp_path / "missing.env", environ={})
    assert users == {"admin": "admin"} and source == "default"
    assert resolve_users("u:p", environ=environ) == ({"u": "p"}, "--users")


def test_module_entry_prints_default_credentials_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    sim = SimulatorProcess(["--channels", "3"], env=_env())
    with sim:
        with RawClient(sim.host, sim.port) as client:
            assert client.login("admin", "admin").num_channels == 3
        assert sim.file_port is not None
        text = "\n".join(sim.output)
        assert "users: admin:admin (default" in text
        assert "3 channels" in text
    if os.name != "nt":
        assert "simulator stopped" in "\n".join(sim.output)


def test_module_entry_never_prints_a_real_password(tmp_path: Path) -> None:
    env = _env(ARBIN_CTI_USERNAME="labuser", ARBIN_CTI_PASSWORD="Sup3r-Secret")
    with SimulatorProcess(["--channels", "1"], env=env) as sim:
        with RawClient(sim.host, sim.port) as client:
            assert client.login("labuser", "Sup3r-Secret").result == 1
            assert client.login("admin", "admin").result == 3  # already logged in
        text = "\n".join(sim.output)
    assert "labuser" in text and "environment" in text
    assert "Sup3r-Secret" not in text


def test_module_entry_reports_bad_options() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "pyctiarbin.simulator", "--channels", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2 and "channels" in completed.stderr
    completed = subprocess.run(
        [sys.executable, "-m", "pyctiarbin.simulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0 and "--split-writes" in completed.stdout
