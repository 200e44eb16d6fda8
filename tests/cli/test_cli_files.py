"""``pycti files``: a round trip through the simulator's file port."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pyctiarbin import CyclerClient
from pyctiarbin.simulator import Simulator

from .support import PASSWORD, USER, RunPycti, address, lines


def test_files_round_trip(sim: Simulator, run_pycti: RunPycti, workdir: Path) -> None:
    where = address(sim)
    # Larger than one upload chunk (256 KiB), so the transfer takes several requests.
    payload = os.urandom(300_000)
    local = workdir / "Big_Test.sdx"
    local.write_bytes(payload)

    made = run_pycti("files", "mkdir", "Work/Project", *where)
    assert made.returncode == 0, made.stderr
    assert lines(made.stdout) == ["created Work/Project"]
    assert (sim.work_dir / "Project").is_dir()

    put = run_pycti("files", "put", str(local), "Work/Project/", *where)
    assert put.returncode == 0, put.stderr
    assert lines(put.stdout) == [f"uploaded {local} to Work/Project/Big_Test.sdx (300000 bytes)"]
    assert (sim.work_dir / "Project" / "Big_Test.sdx").read_bytes() == payload

    listed = run_pycti("files", "ls", "Work/Project", "--format", "json", *where)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [
        {
            "name": "Big_Test.sdx",
            "type": "file",
            "size_bytes": 300_000,
            "modified": json.loads(listed.stdout)[0]["modified"],
        }
    ]

    local.unlink()
    got = run_pycti("files", "get", "Work/Project/Big_Test.sdx", *where)
    assert got.returncode == 0, got.stderr
    assert lines(got.stdout) == [
        "downloaded Work/Project/Big_Test.sdx to Big_Test.sdx (300000 bytes)"
    ]
    assert local.read_bytes() == payload

    removed = run_pycti("files", "rm", "Work/Project/Big_Test.sdx", *where)
    assert removed.returncode == 0, removed.stderr
    assert not (sim.work_dir / "Project" / "Big_Test.sdx").exists()

    gone = run_pycti("files", "rm", "Work/Project/Big_Test.sdx", *where)
    assert gone.returncode == 1
    assert gone.stdout == ""
    assert lines(gone.stderr) == [
        "pycti: error: delete refused: file does not exist: Work/Project/Big_Test.sdx (code 0x08)"
    ]


def test_files_ls_table_lists_the_shipped_schedules(sim: Simulator, run_pycti: RunPycti) -> None:
    listed = run_pycti("files", "ls", *address(sim))

    assert listed.returncode == 0, listed.stderr
    out = lines(listed.stdout)
    assert out[0].split() == ["Type", "Name", "Size", "Modified"]
    names = {line.split()[1] for line in out[1:]}
    assert {"CCCV_Charge.sdx", "Rest.sdx", "MV_Current.sdx"} <= names


def test_transfers_report_progress_per_chunk(sim: Simulator) -> None:
    """The client's progress callback, which drives the bar of files get/put."""
    payload = os.urandom(600_000)
    uploads: list[tuple[int, int, int]] = []
    downloads: list[tuple[int, int, int]] = []
    with CyclerClient(
        sim.host, sim.port, file_port=sim.file_port, username=USER, password=PASSWORD
    ) as client:
        client.files.upload(
            "Work/Progress.sdx",
            payload,
            chunk_size=256 * 1024,
            progress=lambda *args: uploads.append(args),
        )
        data = client.files.download(
            "Work/Progress.sdx", progress=lambda *args: downloads.append(args)
        )

    assert data == payload
    assert uploads == [(1, 3, 262_144), (2, 3, 524_288), (3, 3, 600_000)]
    assert downloads[-1] == (len(downloads), len(downloads), 600_000)
    assert [done for done, _, _ in downloads] == list(range(1, len(downloads) + 1))
