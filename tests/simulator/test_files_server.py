"""File commands on the file port: browse, chunked download/upload with MD5, new folder,
delete; and path-traversal attempts, which are refused and touch nothing outside the root."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctiarbin.protocol import (
    AssignScheduleRequest,
    BrowseDirectoryFeedback,
    BrowseDirectoryRequest,
    BrowseResult,
    DeleteFolderRequest,
    DownloadFileFeedback,
    DownloadFileRequest,
    NewFolderRequest,
    NewOrDeleteRequest,
    StartRequest,
    UploadFileFeedback,
    UploadFileRequest,
)
from pyctiarbin.simulator import Simulator
from pyctiarbin.simulator.rawclient import RawClient

from .mits import limit, mits_text, step


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    root = tmp_path / "root"
    with Simulator(channels=2, root=root, download_chunk_bytes=1000) as simulator:
        yield simulator


@pytest.fixture
def files(sim: Simulator) -> Iterator[RawClient]:
    assert sim.file_port is not None
    with RawClient(sim.host, sim.file_port) as client:
        yield client


def browse(client: RawClient, path: str) -> BrowseDirectoryFeedback:
    answer = client.request(BrowseDirectoryRequest(path=path))
    assert isinstance(answer, BrowseDirectoryFeedback)
    return answer


def upload(client: RawClient, path: str, data: bytes, chunk: int = 700) -> list[int]:
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
    results = []
    for index, piece in enumerate(pieces):
        answer = client.request(
            UploadFileRequest(
                path=path,
                package_count=len(pieces),
                package_index=index,
                upload_time=1234.5,
                md5=hashlib.md5(piece).digest(),
                data=piece,
            )
        )
        assert isinstance(answer, UploadFileFeedback)
        assert (answer.package_index, answer.package_count) == (index, len(pieces))
        results.append(answer.result)
    return results


def download(client: RawClient, path: str) -> tuple[int, bytes, int]:
    client.send(DownloadFileRequest(path=path, download_time=42.0))
    first = client.recv()
    assert isinstance(first, DownloadFileFeedback) and first.download_time == 42.0
    chunks = [first]
    while first.result == 1 and len(chunks) < first.package_count:
        chunk = client.recv()
        assert isinstance(chunk, DownloadFileFeedback)
        chunks.append(chunk)
    for index, chunk in enumerate(chunks):
        if chunk.result == 1:
            assert chunk.package_index == index
            assert hashlib.md5(chunk.data).digest() == chunk.md5
    return first.result, b"".join(c.data for c in chunks), len(chunks)


def test_browse_the_root_and_work(sim: Simulator, files: RawClient) -> None:
    top = browse(files, "")
    assert top.result == 1
    assert {e.name for e in top.entries} == {
        "Work",
        "Simulation",
        "Support",
        "SMB Config",
        "CANBMS Config",
    }
    assert all(e.is_dir for e in top.entries)
    work = browse(files, "Work")
    assert work.result == 2  # the schedule directory
    names = {e.name: e for e in work.entries}
    assert {"CCCV_Charge.sdx", "MV_Current.sdx", "Rest.sdx"} <= set(names)
    rest = names["Rest.sdx"]
    assert rest.kind == 1 and rest.size == (sim.work_dir / "Rest.sdx").stat().st_size
    assert len(rest.modified) == 19
    assert browse(files, "Work\\Nope").result == 4  # DIRECTORY_FAILED (ArbinCTI.dll)
    assert browse(files, "Work/Rest.sdx").result == 4  # a file, not a directory


def test_upload_download_round_trip(sim: Simulator, files: RawClient) -> None:
    data = os.urandom(2500)
    assert upload(files, "Work\\Blob.txt", data) == [1, 1, 1, 1]
    assert (sim.work_dir / "Blob.txt").read_bytes() == data
    result, got, chunks = download(files, "Work\\Blob.txt")
    assert result == 1 and got == data and chunks == 3
    (sim.work_dir / "Empty.txt").write_bytes(b"")
    result, got, chunks = download(files, "Work/Empty.txt")
    assert (result, got, chunks) == (1, b"", 1)
    assert download(files, "Work/Missing.txt")[0] == 2


def test_upload_checks_md5_order_and_directory(sim: Simulator, files: RawClient) -> None:
    bad = UploadFileRequest(
        path="Work/Bad.txt", package_count=1, package_index=0, md5=b"\x00" * 16, data=b"abc"
    )
    assert files.result(bad) == 3
    out_of_order = UploadFileRequest(
        path="Work/Bad.txt",
        package_count=2,
        package_index=1,
        md5=hashlib.md5(b"abc").digest(),
        data=b"abc",
    )
    assert files.result(out_of_order) == 2
    assert upload(files, "Work/NoSuchDir/x.txt", b"abc") == [2]
    assert upload(files, "Work", b"abc") == [2]
    assert not (sim.work_dir / "Bad.txt").exists()


def test_an_uploaded_schedule_runs_and_is_protected_while_running(
    sim: Simulator, files: RawClient
) -> None:
    text = mits_text(
        [step("Charge", "Current(A)", "1", limits=[limit(("PV_CHAN_Step_Time", ">=", "36000"))])]
    ).encode("latin-1")
    assert set(upload(files, "Work/Uploaded.sdx", text)) == {1}
    with RawClient(sim.host, sim.port) as control:
        control.login("admin", "admin")
        assert control.result(AssignScheduleRequest(channel_index=0, schedule="Uploaded.sdx")) == 0
        assert control.result(StartRequest(test_name="u", channel_indexes=(0,))) == 0
        assert upload(files, "Work/Uploaded.sdx", text)[0] == 4
        assert files.result(DeleteFolderRequest(path="Work/Uploaded.sdx")) == 7
        assert files.result(DeleteFolderRequest(path="Work")) == 5


def test_new_folder_and_delete(sim: Simulator, files: RawClient) -> None:
    assert files.result(NewFolderRequest(path="Work\\Sub")) == 1
    assert files.result(NewFolderRequest(path="Work\\Sub")) == 3
    assert files.result(NewFolderRequest(path="Work\\No\\Deeper")) == 3
    assert files.result(NewFolderRequest(path="NewArea")) == 4
    assert files.result(NewOrDeleteRequest(kind=1, path="Work\\Sub2")) == 1
    assert upload(files, "Work/Sub/a.sdx", b"x") == [1]
    (sim.work_dir / "Program.exe").write_bytes(b"MZ")
    assert files.result(NewOrDeleteRequest(kind=0, path="Work\\Program.exe")) == 6
    assert files.result(NewOrDeleteRequest(kind=0, path="Work\\Sub")) == 6
    assert files.result(NewOrDeleteRequest(kind=0, path="Work\\Gone.sdx")) == 8
    assert files.result(DeleteFolderRequest(path="Work\\Sub")) == 2
    assert files.result(NewOrDeleteRequest(kind=0, path="Work\\Rest.sdx")) == 2
    assert not (sim.work_dir / "Sub").exists() and not (sim.work_dir / "Rest.sdx").exists()
    assert (sim.work_dir / "Program.exe").exists() and (sim.work_dir / "Sub2").is_dir()


def test_file_commands_on_the_control_port_after_login(sim: Simulator) -> None:
    # Arbin's own demo clients send file commands on the control port (9031).
    with RawClient(sim.host, sim.port) as control:
        assert browse(control, "Work").result == BrowseResult.FAILED  # not before a LOGIN
        assert upload(control, "Work/Early.txt", b"x") == [2]
        assert not (sim.work_dir / "Early.txt").exists()
        control.login("admin", "admin")
        assert browse(control, "Work").result == 2
        data = os.urandom(2500)
        assert upload(control, "Work/Control.txt", data) == [1, 1, 1, 1]
        assert download(control, "Work/Control.txt") == (1, data, 3)


def test_file_login_can_be_required(tmp_path: Path) -> None:
    with Simulator(channels=1, require_file_login=True) as sim:
        assert sim.file_port is not None
        with RawClient(sim.host, sim.file_port) as files:
            assert browse(files, "Work").result == 4
            assert files.login("admin", "admin").result == 1
            assert browse(files, "Work").result == 2


def _tree(path: Path) -> dict[str, tuple[bool, bytes, int]]:
    state = {}
    for entry in sorted(path.rglob("*")):
        info = entry.lstat()
        content = entry.read_bytes() if entry.is_file() and not entry.is_symlink() else b""
        state[str(entry.relative_to(path))] = (entry.is_symlink(), content, info.st_mtime_ns)
    return state


TRAVERSALS = [
    "..",
    "../",
    "..\\..",
    "Work/../..",
    "Work\\..\\..\\outside",
    "../outside",
    "../outside/secret.txt",
    "../outside/keep.sdx",
    "Work/../../outside/keep.sdx",
    "/",
    "/etc",
    "/etc/passwd",
    "\\Windows",
    "\\\\server\\share\\x.sdx",
    "C:",
    "C:\\",
    "C:\\Windows\\win.ini",
    "c:/outside/keep.sdx",
    "Work\\C:evil.sdx",
    "Work/link",
    "Work/link/keep.sdx",
    "Work/link/secret.txt",
    "Work/link/../keep.sdx",
    "Work/evil.sdx",
    "Work/dirlink",
]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links on this platform")
def test_path_traversal_is_refused_and_touches_nothing_outside(
    tmp_path: Path, sim: Simulator, files: RawClient
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    (outside / "keep.sdx").write_text("[Rest]\nkind = rest\n")
    (outside / "sub").mkdir()
    try:
        os.symlink(outside, sim.work_dir / "link", target_is_directory=True)
        os.symlink(outside / "keep.sdx", sim.work_dir / "evil.sdx")
        os.symlink(outside / "sub", sim.work_dir / "dirlink", target_is_directory=True)
    except OSError as exc:  # e.g. Windows without the privilege
        pytest.skip(f"cannot create symbolic links: {exc}")
    before_outside = _tree(outside)
    before_root = _tree(sim.root)

    for path in TRAVERSALS:
        assert browse(files, path).result == 4, path
        assert download(files, path)[0] == 2, path
        for target in (path, path.rstrip("/\\") + "/new.sdx"):
            assert upload(files, target, b"[Rest]\nkind = rest\n") == [2], target
            assert files.result(NewFolderRequest(path=target)) == 4, target
            assert files.result(NewOrDeleteRequest(kind=1, path=target)) == 4, target
        assert files.result(DeleteFolderRequest(path=path)) == 5, path
        assert files.result(NewOrDeleteRequest(kind=0, path=path)) == 5, path

    assert _tree(outside) == before_outside
    assert _tree(sim.root) == before_root
    # The schedule lookup does not follow names with separators either.
    with RawClient(sim.host, sim.port) as control:
        control.login("admin", "admin")
        for name in ("../outside/keep.sdx", "link/keep.sdx", "/etc/passwd", "evil.sdx", "evil"):
            answer = control.request(AssignScheduleRequest(channel_index=0, schedule=name))
            assert answer.result == 0x13, name  # type: ignore[attr-defined]
