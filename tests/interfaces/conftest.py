"""Fixtures for the seed-compatible interfaces: a simulator, a ``.env`` file and a recording
relay. The seed itself (pycti-arbin 0.0.13) comes from ``seed_python`` in tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from interfaces_support import CHANNELS, PASSWORD, USER, RecordingRelay

from pyctiarbin.simulator import Simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(channels=CHANNELS, users={USER: PASSWORD}, speed=60.0) as simulator:
        yield simulator


@pytest.fixture
def env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``.env`` with the simulator's credentials; the environment holds none."""
    monkeypatch.delenv("ARBIN_CTI_USERNAME", raising=False)
    monkeypatch.delenv("ARBIN_CTI_PASSWORD", raising=False)
    path = tmp_path / "creds.env"
    path.write_text(f"ARBIN_CTI_USERNAME='{USER}'\nARBIN_CTI_PASSWORD='{PASSWORD}'\n")
    return path


@pytest.fixture
def relay(sim: Simulator) -> Iterator[RecordingRelay]:
    recorder = RecordingRelay(sim.host, sim.port)
    try:
        yield recorder
    finally:
        recorder.close()
