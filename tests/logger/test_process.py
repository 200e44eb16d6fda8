"""The logger as a program (``pycti log``, run as ``python -m pyctiarbin.cli log``):
``kill -9`` loses at most one interval, SIGTERM/SIGINT flush and exit cleanly, and two
processes sharing one PostgreSQL database never log the same cycler."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctiarbin.simulator import Simulator

from .support import (
    count_readings,
    integrity_ok,
    query,
    readings_by_channel,
    requires_postgres,
    simulators_a_and_b,
    start_logger_process,
    subprocess_env,
    wait_until,
)

INTERVAL_S = 0.25
# Slack for the commit of the last poll: the sink gathers rows for 50 ms, then commits.
COMMIT_SLACK_S = 0.25


@pytest.fixture
def sims() -> Iterator[list[Simulator]]:
    with simulators_a_and_b((8, 8), "long-test") as both:
        yield both


def cycler_args(sims: list[Simulator]) -> list[str]:
    args = []
    for name, sim in zip(("a", "b"), sims, strict=True):
        args += ["--cycler", f"{name}={sim.host}:{sim.port}"]
    return args


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(10)


def signal_after_readings(
    url: str, args: list[str], tmp_path: Path, how: signal.Signals, polls: int
) -> tuple[subprocess.Popen[bytes], float]:
    """Run the logger until it stored ``polls`` polls of both cyclers, then send it ``how``;
    the process (ended) and the host time the signal was sent."""
    process = start_logger_process(args, tmp_path, tmp_path / "logger.log")
    try:
        wait_until(lambda: count_readings(url) >= 16 * polls, 30, f"{polls} polls stored")
        signalled_at = time.time()
        process.send_signal(how)
        process.wait(15)
    finally:
        stop_process(process)
    return process, signalled_at


def assert_contiguous(url: str, cycler: str) -> list[float]:
    """Every channel has the same reading times, spaced one interval apart (no hole)."""
    by_channel = readings_by_channel(url, cycler)
    times = by_channel[1]
    assert all(other == times for other in by_channel.values())
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert steps and max(steps) < 1.6 * INTERVAL_S, steps
    return times


@pytest.mark.parametrize("how", [signal.SIGKILL])
def test_kill_9_loses_at_most_one_interval(
    db_url: str, sims: list[Simulator], tmp_path: Path, how: signal.Signals
) -> None:
    args = [*cycler_args(sims), "--interval", str(INTERVAL_S), "--db", db_url]
    process, killed_at = signal_after_readings(db_url, args, tmp_path, how, polls=9)
    assert process.returncode == -how, (tmp_path / "logger.log").read_text()

    integrity_ok(db_url)
    for cycler in ("a", "b"):
        times = assert_contiguous(db_url, cycler)
        # At most the poll under way (and one whose commit had not finished) is lost.
        assert killed_at - times[-1] <= INTERVAL_S + COMMIT_SLACK_S, killed_at - times[-1]

    # A new run carries on: the database opens, the running test keeps its id, and the time
    # the logger was down is recorded as a gap.
    test_ids = query(db_url, "SELECT DISTINCT test_id FROM readings WHERE test_id IS NOT NULL")
    assert len(test_ids) == 1
    time.sleep(0.6)
    second = start_logger_process([*args, "--duration", "1.0"], tmp_path, tmp_path / "2.log")
    assert second.wait(30) == 0, (tmp_path / "2.log").read_text()
    integrity_ok(db_url)
    assert query(db_url, "SELECT DISTINCT test_id FROM readings WHERE test_id IS NOT NULL") == (
        test_ids
    )
    gaps = query(db_url, "SELECT cycler, reason, missed_intervals FROM gaps ORDER BY cycler")
    assert [(g[0], g[1]) for g in gaps] == [
        ("a", "logger not running"),
        ("b", "logger not running"),
    ]
    assert all(g[2] >= 2 for g in gaps)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_flush_and_exit_cleanly(
    sims: list[Simulator], tmp_path: Path, how: signal.Signals
) -> None:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    args = [*cycler_args(sims), "--interval", str(INTERVAL_S), "--db", url]
    process, _ = signal_after_readings(url, args, tmp_path, how, polls=5)
    output = (tmp_path / "logger.log").read_text()
    assert process.returncode == 0, output
    for cycler in ("a", "b"):
        assert_contiguous(url, cycler)
        summary = [line for line in output.splitlines() if line.startswith(f"{cycler} stopped")]
        assert len(summary) == 1, output
        polled = int(summary[0].split(" readings=")[1].split()[0])
        # Flushed: every reading polled before the signal is stored.
        stored = query(url, "SELECT count(*) FROM readings WHERE cycler = %s", (cycler,))
        assert polled > 0 and stored == [(polled,)], (polled, stored)
    integrity_ok(url)
    assert not (tmp_path / "lab.db.spill").exists()
    assert "Traceback" not in output


@requires_postgres
def test_two_loggers_on_one_postgresql_never_log_the_same_cycler(
    pg_url: str, sims: list[Simulator], tmp_path: Path
) -> None:
    args = [*cycler_args(sims), "--interval", str(INTERVAL_S), "--db", pg_url]
    first = start_logger_process(args, tmp_path, tmp_path / "first.log")
    processes = [first]
    try:
        wait_until(lambda: count_readings(pg_url) >= 16 * 2, 30, "the first logger's readings")
        # A second logger for the same cyclers is refused while the first owns them.
        refused = subprocess.run(
            [sys.executable, "-m", "pyctiarbin.cli", "log", "--no-live", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=subprocess_env(),
            cwd=tmp_path,
        )
        assert refused.returncode == 1, refused.stderr
        assert "owned by another logger" in refused.stderr
        assert "logger " in refused.stderr and "Traceback" not in refused.stderr

        # A standby logger waits, then takes over when the first one dies.
        standby = start_logger_process(
            [*args, "--standby", "--claim-retry", "0.2"], tmp_path, tmp_path / "standby.log"
        )
        processes.append(standby)
        time.sleep(1.5)
        owners = query(pg_url, "SELECT DISTINCT owner FROM claims")
        assert len(owners) == 1
        first.kill()
        first.wait(10)
        killed_at = time.time()
        wait_until(
            lambda: (
                len(query(pg_url, "SELECT DISTINCT owner FROM claims")) == 1
                and query(pg_url, "SELECT DISTINCT owner FROM claims") != owners
            ),
            30,
            "the standby logger to take over",
        )

        def polls_since_takeover() -> int:
            counts = query(
                pg_url,
                "SELECT cycler, count(*) FROM readings WHERE channel = 1 AND unix_time_s > %s "
                "GROUP BY cycler",
                (killed_at,),
            )
            return min(int(n) for _, n in counts) if len(counts) == 2 else 0

        wait_until(lambda: polls_since_takeover() >= 5, 30, "five polls by the standby logger")
        standby.send_signal(signal.SIGTERM)
        assert standby.wait(15) == 0, (tmp_path / "standby.log").read_text()
    finally:
        for process in processes:
            stop_process(process)

    for cycler in ("a", "b"):
        times = readings_by_channel(pg_url, cycler)[1]
        before = [t for t in times if t < killed_at]
        after = [t for t in times if t > killed_at]
        assert len(before) >= 4 and len(after) >= 4
        # Two loggers polling the same cycler would interleave readings closer than an
        # interval. Each logger keeps its own grid, so the one step across the takeover may be
        # anything: the readings of each tenure are checked on their own.
        for tenure in (before, after):
            steps = [b - a for a, b in itertools.pairwise(tenure)]
            assert min(steps) > 0.6 * INTERVAL_S, (min(steps), tenure)
    # The standby logger carried on from what the first one stored: the running test kept its
    # id across the takeover.
    assert (
        len(query(pg_url, "SELECT DISTINCT test_id FROM readings WHERE test_id IS NOT NULL")) == 1
    )
    claimed = query(pg_url, "SELECT cycler, owner FROM claims ORDER BY cycler")
    assert [c[0] for c in claimed] == ["a", "b"] and claimed[0][1] == claimed[1][1]
    integrity_ok(pg_url)
