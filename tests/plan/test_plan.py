"""Test plans: loading (TOML, CSV, templates, errors) and running against three simulators of
8 channels each, some channels refusing."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

import cli.support
from lab_servers import PASSWORD
from pyctiarbin.config import CyclerAddress, load_lab_config
from pyctiarbin.credentials import Credentials
from pyctiarbin.plan import EntryOutcome, PlanError, load_plan, run_plan
from pyctiarbin.simulator import Simulator

NOW = datetime(2024, 5, 1, 13, 45, 10)


@pytest.fixture
def three() -> Iterator[dict[str, Simulator]]:
    """Three 8-channel cyclers, A, B and C."""
    sims: dict[str, Simulator] = {}
    try:
        for name in "ABC":
            sims[name] = Simulator(channels=8, serial_number=f"SIM-{name}").start()
        yield sims
    finally:
        for sim in sims.values():
            sim.stop()


def plan_toml(sims: dict[str, Simulator]) -> str:
    cyclers = "".join(
        f'[cyclers.{name}]\nhost = "{sim.host}"\nport = {sim.port}\n\n'
        for name, sim in sims.items()
    )
    barcodes = ", ".join(f'"B-{n:03d}"' for n in range(1, 9))
    return f"""
test_name = "{{barcode}}_{{channel}}"
schedule = "Rest.sdx"

{cyclers}
[[tests]]
cycler = "A"
channels = "1-8"
barcode = "LOT7-A{{channel:02d}}"
mv_ud = {{ MV_UD1 = 1.5, MV_UD3 = -2 }}
capacity_ah = 3.0

[[tests]]
cycler = "B"
channels = [1, 2, 3, 4, 5, 6, 7, 8]
barcodes = [{barcodes}]
schedule = "CCCV_Charge.sdx"
test_name = "{{cycler}}-{{barcode}}-{{date}}"

[[tests]]
cycler = "C"
channels = "1-6"
barcode = "C{{channel}}"

[[tests]]
cycler = "C"
channels = "7-8"
schedule = "Missing.sdx"
barcode = "C{{channel}}"
"""


def occupy(sim: Simulator, channels: list[int]) -> None:
    """Start a test on ``channels`` so that the plan's assign is refused there."""
    from pyctiarbin.client import CyclerClient

    with CyclerClient(sim.host, sim.port, username="admin", password="admin") as client:
        client.assign_schedule(channels, "Rest.sdx")
        client.start(channels, "already-running")


def test_plan_starts_three_cyclers_and_reports_refusals(
    three: dict[str, Simulator], tmp_path: Path
) -> None:
    occupy(three["B"], [3, 4])
    path = tmp_path / "plan.toml"
    path.write_text(plan_toml(three))
    plan = load_plan(path, now=NOW)
    assert len(plan.entries) == 24 and sorted(plan.cyclers) == ["A", "B", "C"]
    report = asyncio.run(run_plan(plan, credentials=Credentials("admin", "admin")))

    assert [(r.entry.cycler, r.entry.channel) for r in report.results] == [
        (name, ch) for name in "ABC" for ch in range(1, 9)
    ]
    refused = {
        (r.entry.cycler, r.entry.channel): (r.step, r.code, r.detail)
        for r in report.results
        if r.outcome is EntryOutcome.REFUSED
    }
    assert set(refused) == {("B", 3), ("B", 4), ("C", 7), ("C", 8)}
    assert refused[("B", 3)][:2] == ("assign", 0x14)
    assert refused[("C", 7)][:2] == ("assign", 0x13)
    assert "running" in refused[("B", 4)][2].lower()
    assert report.count(EntryOutcome.STARTED) == 20
    assert report.exit_code == 1
    assert report.summary() == "20 of 24 started; 4 refused"

    a1, b5, c6 = three["A"].channel(1), three["B"].channel(5), three["C"].channel(6)
    assert (a1.test_name, a1.schedule) == ("LOT7-A01_1", "Rest.sdx")
    assert (b5.test_name, b5.schedule) == ("B-B-005-20240501", "CCCV_Charge.sdx")
    assert c6.test_name == "C6_6" and c6.status.is_running
    assert three["B"].channel(3).test_name == "already-running"
    assert not three["C"].channel(7).status.is_running
    entry = plan.entries[0]
    assert entry.mv_ud is not None and entry.mv_ud[:4] == (1.5, 0.0, -2.0, 0.0)
    assert entry.mv_summary == "MV_UD1=1.5 MV_UD3=-2"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pycti(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return cli.support.pycti(*args, cwd=cwd, env=cli.support.LAB_CREDENTIALS)


def test_pycti_plan_run_table_and_exit_status(three: dict[str, Simulator], tmp_path: Path) -> None:
    path = tmp_path / "plan.toml"
    path.write_text(plan_toml(three))

    dry = pycti("plan", "run", str(path), "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("dry run") >= 24
    assert "LOT7-A08_8" in dry.stdout and "MV_UD1=1.5 MV_UD3=-2" in dry.stdout
    assert not any(three[n].channel(1).status.is_running for n in "ABC")  # nothing was sent

    occupy(three["A"], [2])
    done = pycti("plan", "run", str(path), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[:-1]]
    refused = [(row[0], row[1]) for row in rows if "refused" in row]
    assert refused == [("A", "2"), ("C", "7"), ("C", "8")]
    assert done.stdout.count("refused  assign: schedule not found") == 2
    assert "refused  assign: channel is running (code 0x14)" in done.stdout
    assert done.stdout.rstrip().endswith("21 of 24 started; 3 refused")
    assert PASSWORD not in done.stdout + done.stderr


def test_pycti_plan_csv_with_an_unreachable_cycler(
    three: dict[str, Simulator], tmp_path: Path
) -> None:
    a, b = three["A"], three["B"]
    path = tmp_path / "plan.csv"
    path.write_text(
        "cycler,channel,schedule,test_name,barcode,MV_UD2\n"
        "A,1-4,Rest.sdx,{cycler}{channel}_{barcode},BC{channel},0.5\n"
        f"{b.host}:{b.port},5,Rest.sdx,direct,,\n"
        "dead,1,Rest.sdx,never,,\n"
    )
    result = pycti(
        "plan",
        "run",
        str(path),
        "--format",
        "json",
        "--cycler",
        f"A={a.host}:{a.port}",
        "--cycler",
        f"dead=127.0.0.1:{closed_port()}",
        "--timeout",
        "2",
        cwd=tmp_path,
    )
    assert result.returncode == 3, result.stderr
    document = json.loads(result.stdout)
    outcomes = {(r["cycler"], r["channel"]): r["outcome"] for r in document["results"]}
    assert outcomes == {
        ("A", 1): "started",
        ("A", 2): "started",
        ("A", 3): "started",
        ("A", 4): "started",
        (f"{b.host}:{b.port}", 5): "started",
        ("dead", 1): "unreachable",
    }
    assert a.channel(3).test_name == "A3_BC3"
    assert document["results"][0]["mv_ud"][:2] == [0.0, 0.5]
    assert b.channel(5).test_name == "direct"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'test_name = "{serial}"\nschedule = "R.sdx"\n[[tests]]\ncycler = "h:1"\nchannel = 1\n',
            "unknown field {serial}",
        ),
        ('schedule = "R.sdx"\n[[tests]]\ncycler = "h:1"\nchannel = 1\n', "needs a test_name"),
        (
            'test_name = "t"\nschedule = "R.sdx"\n[[tests]]\ncycler = "h:1"\nchannels = "1-3"\n'
            '[[tests]]\ncycler = "h:1"\nchannel = 2\n',
            "h:1 channel 2 is already in entry 1",
        ),
        (
            'test_name = "t"\nschedule = "R.sdx"\n[[tests]]\ncycler = "h:1"\nchannels = "1-3"\n'
            'barcodes = ["a"]\n',
            "1 barcodes for 3 channels",
        ),
        (
            'test_name = "t"\nschedule = "R.sdx"\n[[tests]]\ncycler = "nowhere"\nchannel = 1\n',
            "cycler 'nowhere' is a name, but no config file",
        ),
        (
            f'test_name = "{"x" * 73}"\nschedule = "R.sdx"\n[[tests]]\ncycler = "h:1"\n'
            "channel = 1\n",
            "longer than the 72 characters",
        ),
        (
            'test_name = "t"\nschedule = "R.sdx"\nmv_ud = {MV_UD17 = 1}\n[[tests]]\n'
            'cycler = "h:1"\nchannel = 1\n',
            "unknown meta variable",
        ),
        (
            'test_name = "t"\nschedule = "R.sdx"\n[[tests]]\ncycler = "h:1"\nchannel = 0\n',
            "numbered from 1",
        ),
        ('test_name = "t"\ncolour = 1\n', "unknown top-level key"),
    ],
)
def test_plan_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    monkeypatch.delenv("PYCTI_CONFIG", raising=False)
    path = tmp_path / "plan.toml"
    path.write_text(text)
    with pytest.raises(PlanError, match=message.replace("{", r"\{").replace("(", r"\(")):
        load_plan(path, now=NOW)


def test_plan_names_resolved_through_pycti_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_path = tmp_path / "plan.toml"
    plan_path.write_text(
        'test_name = "t"\nschedule = "R.sdx"\n[[tests]]\ncycler = "bay2"\nchannel = 1\n'
    )
    lab = tmp_path / "lab.toml"
    lab.write_text('[cyclers.bay2]\nhost = "10.0.0.22"\nport = 9041\n')
    monkeypatch.setenv("PYCTI_CONFIG", str(lab))
    (entry,) = load_plan(plan_path, now=NOW).entries
    assert (entry.cycler, entry.address.host, entry.address.port) == ("bay2", "10.0.0.22", 9041)

    # An explicit lab config wins over the environment's.
    other = tmp_path / "other.toml"
    other.write_text('[cyclers.bay2]\nhost = "10.0.0.99"\n')
    explicit = load_lab_config(other)
    assert load_plan(plan_path, lab_config=explicit, now=NOW).entries[0].address.host == "10.0.0.99"

    monkeypatch.setenv("PYCTI_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(
        PlanError, match=r"\$PYCTI_CONFIG: config file .*missing\.toml does not exist"
    ):
        load_plan(plan_path, now=NOW)


def test_csv_errors_and_names(tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    path.write_text("cycler,channel,schedule,test_name,colour\nA,1,R.sdx,t,red\n")
    with pytest.raises(PlanError, match="column 'colour' is unknown"):
        load_plan(path)
    path.write_text("cycler,channel,schedule\nA,1,R.sdx\n")
    with pytest.raises(PlanError, match=r"lacks column.*test_name"):
        load_plan(path)
    path.write_text(
        "cycler,channel,schedule,test_name\nA,1-2,R.sdx,{date}-{time}-{row}-{schedule}\n"
    )
    plan = load_plan(path, cyclers={"A": CyclerAddress("10.0.0.5", 9031, name="A")}, now=NOW)
    assert [e.test_name for e in plan.entries] == ["20240501-134510-2-R"] * 2
    assert plan.entries[1].address.host == "10.0.0.5"
    with pytest.raises(PlanError, match=r"a \.toml or a \.csv"):
        load_plan(tmp_path / "plan.yaml")
