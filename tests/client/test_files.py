"""File commands over the file port, on both clients."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyctiarbin import FileOperationFailed
from pyctiarbin.simulator import Simulator

from .conftest import Api, run_both


def test_file_round_trip(kind: str, sim: Simulator) -> None:
    payload = os.urandom(700_000)  # several chunks, and byte sums far past 2**16

    async def body(api: Api) -> None:
        top = await api.files("browse", "")
        assert top is not None
        await api.files("make_dir", "Work/client_test")
        await api.files("upload", "Work/client_test/data.txt", payload, chunk_size=128 * 1024)
        names = [entry.name for entry in await api.files("browse", "Work/client_test")]
        assert "data.txt" in names
        assert await api.files("download", "Work/client_test/data.txt") == payload
        await api.files("delete", "Work/client_test/data.txt")
        with pytest.raises(FileOperationFailed):
            await api.files("download", "Work/client_test/data.txt")
        with pytest.raises(FileOperationFailed):
            await api.files("browse", "../..")

    run_both(kind, sim, body)


def test_files_read_and_write_local_paths(kind: str, sim: Simulator, tmp_path: Path) -> None:
    source, copy = tmp_path / "source.txt", tmp_path / "copy.txt"
    source.write_bytes(b"cycle 1\n" * 5000)

    async def body(api: Api) -> None:
        await api.files("make_dir", "Work/local_paths")
        await api.files("upload", "Work/local_paths/data.txt", source)
        data = await api.files("download", "Work/local_paths/data.txt", copy)
        assert data == copy.read_bytes() == source.read_bytes()
        # A local file that cannot be read is the caller's error, raised as it is; nothing
        # is sent and the file connection stays usable.
        with pytest.raises(FileNotFoundError):
            await api.files("upload", "Work/local_paths/none.txt", tmp_path / "missing.txt")
        with pytest.raises(IsADirectoryError):
            await api.files("download", "Work/local_paths/data.txt", tmp_path)
        names = [entry.name for entry in await api.files("browse", "Work/local_paths")]
        assert names == ["data.txt"]

    run_both(kind, sim, body)
