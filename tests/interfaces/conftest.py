"""Fixtures for the seed-compatible interfaces: a simulator, a ``.env`` file, a recording relay
and, when it is installed, the seed itself (pycti-arbin 0.0.13 in ``bench/.seed-venv``)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from interfaces_support import CHANNELS, PASSWORD, USER, RecordingRelay

from pyctiarbin.simulator import Simulator

REPO = Path(__file__).resolve().parents[2]


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


def _load_seed_helper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_seed_bench", REPO / "bench" / "_seed.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def seed() -> ModuleType:
    """bench/_seed.py, if pycti-arbin 0.0.13 is installed in its venv (never installed here:
    that takes the package index; run ``python bench/_seed.py`` once to set it up)."""
    helper = _load_seed_helper()
    marker = helper.SEED_VENV / ".installed"
    if not (marker.is_file() and marker.read_text().strip() == helper.SEED_SPEC):
        pytest.skip("pycti-arbin 0.0.13 is not installed in bench/.seed-venv")
    return helper
