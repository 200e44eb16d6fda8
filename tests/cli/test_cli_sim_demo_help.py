"""``pycti sim`` as a program, ``python -m pyctiarbin.demo``, and the help of every command."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from pyctiarbin import CtiConnectionError
from pyctiarbin.cli import build_app
from pyctiarbin.errors import CommandRejected
from pyctiarbin.protocol import (
    BrowseDirectoryFeedback,
    BrowseDirectoryRequest,
    ChannelInfoFeedback,
    ChannelInfoRequest,
)
from pyctiarbin.simulator.rawclient import RawClient

from .support import PASSWORD, USER, RunPycti, clean_environment, pycti_sim


def test_pycti_sim_login_timeout_and_memory_budget(tmp_path: Path) -> None:
    options = [
        "--port", "0", "--file-port", "0", "--channels", "1", "--root", str(tmp_path / "root"),
        "--login-timeout", "0.3", "--memory-budget", "1",
    ]  # fmt: skip
    with pycti_sim(*options, cwd=tmp_path) as sim:
        # No LOGIN within 0.3 s: the simulator closes the connection.
        with socket.create_connection(("127.0.0.1", sim.port("control")), timeout=20) as idle:
            assert idle.recv(1) == b""
        with sim.client() as client:
            # 1 MiB budget: unfinished uploads may hold 768 KiB, so a 1 MiB file is refused
            # (UPLOAD result 2) and a small one goes through.
            with pytest.raises(CommandRejected):
                client.files.upload("Work/big.txt", b"x" * (1024 * 1024), chunk_size=256 * 1024)
            client.files.upload("Work/small.txt", b"y" * 100_000)
            assert client.files.download("Work/small.txt") == b"y" * 100_000


def test_pycti_sim_maps_its_options_and_serves(tmp_path: Path) -> None:
    root = tmp_path / "root"
    options = [
        "--port", "0", "--file-port", "0", "--channels", "4", "--speed", "30",
        "--root", str(root), "--answer-all", "--serial-number", "SIM-CLI-7",
        "--latency", "0.01", "--drop-after", "500", "--corrupt-every", "100000",
        "--split-writes", "64", "--stray-bytes", "3",
    ]  # fmt: skip
    with pycti_sim(*options, cwd=tmp_path) as sim:
        text = "\n".join(sim.banner)
        assert "4 channels, serial SIM-CLI-7, speed 30x" in text
        assert f"root: {root}" in text
        assert f"users: {USER} (from environment" in text
        assert (
            "faults: Faults(latency_s=0.01, drop_after_frames=500, corrupt_checksum_every=100000,"
            " split_writes=64, stray_bytes=3, silent=False)"
        ) in text
        assert PASSWORD not in text

        # --stray-bytes: bytes that are not a frame follow every frame. The client does not
        # trust such a stream (a read fails once its retries are spent); a raw reader that
        # skips them shows the rest of the options at work.
        with sim.client(retries=0) as client:
            assert client.login_info.serial_number == "SIM-CLI-7"
            with pytest.raises(CtiConnectionError, match="not part of a frame"):
                client.read_channels()
        with RawClient("127.0.0.1", sim.port("control")) as raw:
            raw.login(USER, PASSWORD)
            # --answer-all: a one-channel read is answered with every channel.
            answer = raw.request(ChannelInfoRequest(channel_index=2))
            assert isinstance(answer, ChannelInfoFeedback)
            assert [r.channel_index for r in answer.channels] == [0, 1, 2, 3]
            assert raw.framer.skipped_bytes > 0
        with RawClient("127.0.0.1", sim.port("file")) as raw:
            raw.login(USER, PASSWORD)
            listing = raw.request(BrowseDirectoryRequest("Work"))
            assert isinstance(listing, BrowseDirectoryFeedback)
            assert "Rest.sdx" in {entry.name for entry in listing.entries}
    assert sim.rest.strip().endswith("simulator stopped")


def test_demo_runs_end_to_end() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pyctiarbin.demo", "--duration", "1.5", "--interval", "0.2"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=clean_environment(),
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "started CCCV_Charge.sdx on channel(s) 1, 2, 3 as 'demo-charge'" in out
    assert "started MV_Current.sdx on channel(s) 10, 11 as 'demo-mv-current'" in out
    assert "\x1b[" not in out
    rows = [line.split() for line in out.splitlines() if re.match(r"^\s*\d+\s{2}", line)]
    statuses = {int(row[0]): row[1] for row in rows}
    assert set(statuses) == set(range(1, 17))
    assert statuses[1] == "Charge" and statuses[4] == "Discharge" and statuses[16] == "Idle"
    assert out.rstrip().endswith("simulator stopped; demo over")


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_every_option_of_every_command_has_help() -> None:
    root = typer.main.get_command(build_app())
    commands = dict(_commands(root))

    expected = {
        ("status",), ("info",), ("assign",), ("start",), ("stop",), ("resume",),
        ("continue",), ("jump",), ("mv", "set"), ("files", "ls"), ("files", "get"),
        ("files", "put"), ("files", "mkdir"), ("files", "rm"), ("sim",),
    }  # fmt: skip
    assert expected <= set(commands)
    for path, command in commands.items():
        assert (command.help or "").strip(), f"pycti {' '.join(path)} has no help"
        for param in command.params:
            assert (getattr(param, "help", None) or "").strip(), (
                f"pycti {' '.join(path)}: {param.opts} has no help text"
            )


def test_help_lists_the_commands_and_exit_codes(run_pycti: RunPycti) -> None:
    result = run_pycti("--help")

    assert result.returncode == 0
    for name in ("status", "info", "assign", "start", "stop", "mv", "files", "sim"):
        assert re.search(rf"^\s+{name}\s", result.stdout, re.MULTILINE), name
    assert "4 login refused" in result.stdout
