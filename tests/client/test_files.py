"""File commands over the file port, on both clients."""

from __future__ import annotations

import os

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
