"""``pycti log`` and ``pycti export`` as a user runs them, and the live view's tables."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from pyctiarbin.logger import CyclerSpec, Logger, open_sink
from pyctiarbin.logger.live import health_lines, render_health
from pyctiarbin.simulator import Simulator

from .support import query

SECRET = "Pw-logger-91xq"


@pytest.fixture
def sims() -> Iterator[list[Simulator]]:
    users = {"tech": SECRET}
    with Simulator(channels=4, users=users) as a, Simulator(channels=2, users=users) as b:
        yield [a, b]


def pycti(*args: str, cwd: Path, credentials: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARBIN_CTI_", "PYCTI_"))}
    if credentials:
        env.update(ARBIN_CTI_USERNAME="tech", ARBIN_CTI_PASSWORD=SECRET)
    return subprocess.run(
        [sys.executable, "-m", "pyctiarbin.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def test_log_from_a_config_file_then_export(sims: list[Simulator], tmp_path: Path) -> None:
    config = tmp_path / "lab.toml"
    config.write_text(
        "".join(
            f'[cyclers.{name}]\nhost = "{sim.host}"\nport = {sim.port}\n\n'
            for name, sim in zip(("bay1", "bay2"), sims, strict=True)
        )
    )
    db = f"sqlite:///{tmp_path / 'lab.db'}"
    result = pycti(
        "log",
        "--config",
        str(config),
        "--interval",
        "0.2",
        "--db",
        db,
        "--duration",
        "1",
        "--no-live",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "bay1 stopped" in result.stdout and "bay2 stopped" in result.stdout
    assert SECRET not in result.stdout + result.stderr
    counts = dict(query(db, "SELECT cycler, count(DISTINCT channel) FROM readings GROUP BY 1"))
    assert counts == {"bay1": 4, "bay2": 2}

    out = tmp_path / "out"
    export = ("export", "--db", db, "--format", "parquet", "--out", str(out), "--cycler", "bay2")
    # No test ran while logging: an export by test has nothing to say, and says why.
    by_test = pycti(*export, cwd=tmp_path)
    assert by_test.returncode == 1 and by_test.stdout == ""
    assert by_test.stderr.strip() == (
        "pycti: error: nothing exported: no test ran on the 2 logged channel(s): their "
        "readings are idle readings, which belong to no test; export them with --by channel "
        "--include-idle"
    )
    # By channel, channels that never ran are skipped unless asked for.
    by_channel = pycti(*export, "--by", "channel", cwd=tmp_path)
    assert by_channel.returncode == 1
    assert "add --include-idle to export their idle readings" in by_channel.stderr
    assert not any(out.iterdir())
    exported = pycti(*export, "--by", "channel", "--include-idle", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "bay2_ch001_begin_end.bdf.metadata.json",
        "bay2_ch001_begin_end.bdf.parquet",
        "bay2_ch002_begin_end.bdf.metadata.json",
        "bay2_ch002_begin_end.bdf.parquet",
    ]
    assert "2 file(s) written" in exported.stderr
    misused = pycti(*export, "--include-idle", cwd=tmp_path)
    assert misused.returncode == 2 and "--include-idle applies to --by channel" in misused.stderr


def test_export_never_creates_a_database(tmp_path: Path) -> None:
    result = pycti("export", "--db", "sqlite:///nothere.db", "--out", "out", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "pycti: error: --db sqlite:///nothere.db: no logger database at nothere.db "
        "(nothing was created; check --db)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []

    (tmp_path / "other.db").write_bytes(b"")
    other = pycti("export", "--db", "sqlite:///other.db", "--out", "out", cwd=tmp_path)
    assert other.returncode == 2
    assert "other.db is not a pycti logger database" in other.stderr
    assert (tmp_path / "other.db").read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def test_log_with_cycler_options_and_on_change(sims: list[Simulator], tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'lab.db'}"
    result = pycti(
        "log",
        "--cycler",
        f"{sims[0].host}:{sims[0].port}",
        "--interval",
        "0.1",
        "--db",
        db,
        "--duration",
        "1",
        "--on-change",
        "--tolerance",
        "voltage_v=0.01",
        "--max-interval",
        "10",
        "--no-live",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    name = f"127.0.0.1_{sims[0].port}"
    # Idle channels do not change: the first reading and the last one, nothing between.
    assert query(db, "SELECT DISTINCT cycler FROM readings") == [(name,)]
    counts = [c for (c,) in query(db, "SELECT count(*) FROM readings GROUP BY channel")]
    assert counts == [2, 2, 2, 2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["log", "--duration", "1"], "which cyclers?"),
        (["log", "--cycler", "127.0.0.1:1", "--db", "mysql://x/y"], "unknown database URL"),
        (["log", "--cycler", "127.0.0.1:1", "--tolerance", "voltage_v=1"], "only applies"),
        (["log", "--cycler", "no-port-here"], "is a name, but no config file"),
        (["export", "--db", "sqlite:///x.db", "--out", "o", "--format", "xml"], "csv or parquet"),
        (["export", "--db", "sqlite:///x.db", "--out", "o", "--start", "yesterday"], "ISO 8601"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = pycti(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_missing_credentials_are_a_usage_error(sims: list[Simulator], tmp_path: Path) -> None:
    result = pycti(
        "log", "--cycler", f"{sims[0].host}:{sims[0].port}", cwd=tmp_path, credentials=False
    )
    assert result.returncode == 2 and "no CTI user name" in result.stderr


def test_live_view_shows_cyclers_and_sinks(sims: list[Simulator], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    logger = Logger(
        [CyclerSpec(n, s.host, s.port, "tech", SECRET) for n, s in zip("ab", sims, strict=True)],
        [open_sink(url)],
        interval_s=0.2,
    )
    asyncio.run(logger.run(duration_s=0.7))
    console = Console(record=True, width=250, force_terminal=False)
    console.print(render_health(logger.health()))
    text = console.export_text()
    for expected in ("cycler", "a", "b", "stopped", url, "rows written", "backlog"):
        assert expected in text
    lines = health_lines(logger.health())
    assert lines[0].startswith("a stopped") and lines[-1].startswith(url)
    assert "errors=0" in lines[0]
    assert lines[-1].startswith(f"{url} closed written=")


def hot_channel_3(sim: Simulator, tmp_path: Path) -> Path:
    """Channel 3 of ``sim`` at 58 degC, and a rules file with a critical alert above 45 degC."""
    sim.set_aux(3, temperature_c=58.0)
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rules]]\nname = "cell too hot"\nkind = "threshold"\nfield = "aux.temperature"\n'
        'op = ">"\nvalue = 45.0\nseverity = "critical"\n'
    )
    return rules


def test_log_evaluates_alert_rules_on_the_logged_readings(
    sims: list[Simulator], tmp_path: Path
) -> None:
    rules = hot_channel_3(sims[0], tmp_path)
    db = f"sqlite:///{tmp_path / 'lab.db'}"
    result = pycti(
        "log",
        "--cycler",
        f"bay1={sims[0].host}:{sims[0].port}",
        "--interval",
        "0.2",
        "--db",
        db,
        "--duration",
        "1.5",
        "--alerts",
        str(rules),
        "--no-live",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    fired = [line for line in result.stdout.splitlines() if "[CRITICAL] cell too hot" in line]
    assert len(fired) == 1, result.stdout  # one alert per episode, however many polls
    assert "bay1 ch 3" in fired[0]
    # The closing summary has the alert listener's figures too.
    assert result.stdout.splitlines()[-1] == (
        "RecordingAlertListener queued=0 active: 1; active alerts: cell too hot (bay1 ch 3); "
        "log delivered: 1; log failed: 0"
    )
    # The same readings were stored: the logger did the polling, once.
    assert query(db, "SELECT count(DISTINCT channel) FROM readings") == [(4,)]

    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nname = "x"\nkind = "nonsense"\n')
    refused = pycti(
        "log", "--cycler", f"{sims[0].host}:{sims[0].port}", "--alerts", str(bad), cwd=tmp_path
    )
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_live_view_shows_alert_lines_and_the_active_alerts(
    sims: list[Simulator], tmp_path: Path
) -> None:
    import pty

    rules = hot_channel_3(sims[0], tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARBIN_CTI_", "PYCTI_"))}
    env.update(
        ARBIN_CTI_USERNAME="tech", ARBIN_CTI_PASSWORD=SECRET, COLUMNS="220", LINES="60",
        TERM="xterm-256color", PYTHONIOENCODING="utf-8",
    )  # fmt: skip
    env.pop("NO_COLOR", None)
    # A terminal on stdout and stderr: pycti log shows its live view there.
    main, terminal = pty.openpty()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pyctiarbin.cli",
            "log",
            "--cycler",
            f"bay1={sims[0].host}:{sims[0].port}",
            "--interval",
            "0.2",
            "--db",
            f"sqlite:///{tmp_path / 'lab.db'}",
            "--duration",
            "2",
            "--alerts",
            str(rules),
        ],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env=env,
        cwd=tmp_path,
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # EIO: the command closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    assert process.wait(timeout=60) == 0
    screen = _ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))

    # The alert line went through the view's console, above the tables ...
    fired = [line for line in screen.splitlines() if "cell too hot" in line and "ch 3" in line]
    assert fired, screen
    assert "CRITICAL" in fired[0].upper()
    assert screen.index(fired[0]) < screen.rindex("pycti log: every")
    # ... and the listener row lists the active alert instead of "-".
    assert "AlertListener" in screen
    assert "active: 1; active alerts: cell too hot (bay1 ch 3)" in screen, screen
    assert "pycti log: every 0.2 s" in screen


def test_the_same_cycler_under_two_names_is_refused(sims: list[Simulator], tmp_path: Path) -> None:
    address = f"{sims[0].host}:{sims[0].port}"
    result = pycti(
        "log", "--cycler", f"a={address}", "--cycler", f"b={address}",
        "--db", f"sqlite:///{tmp_path / 'lab.db'}", "--duration", "1", "--no-live",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"pycti: error: invalid argument: the same cycler is named twice: {address} (a and b); "
        "log each cycler once"
    )
    assert not (tmp_path / "lab.db").exists()
