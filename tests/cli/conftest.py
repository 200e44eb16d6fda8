"""Fixtures of the ``pycti`` tests: a simulator per test and a runner of the real command.

The command runs in a subprocess (``python -m pyctiarbin.cli``), exactly as a user runs it,
against a simulator on 127.0.0.1 with ephemeral ports. Its environment is cleaned of any
``ARBIN_CTI_*`` / ``PYCTI_*`` variables of the developer's shell and its working directory is
an empty temporary folder, so no stray ``.env`` file is read.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from pyctiarbin.simulator import Simulator

from .support import CREDENTIALS, PASSWORD, USER, RunPycti, pycti


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A 16-channel simulator at normal speed (tests stay in their first step)."""
    with Simulator(channels=16, users={USER: PASSWORD}) as simulator:
        yield simulator


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The working directory of the command (empty at first)."""
    path = tmp_path / "cwd"
    path.mkdir()
    return path


@pytest.fixture
def run_pycti(workdir: Path) -> RunPycti:
    """Run ``pycti ARGS...`` in a subprocess in ``workdir``; credentials in the environment
    unless ``credentials=False``; ``env`` adds variables; ``input`` is stdin (default: empty)."""

    def run(
        *args: str,
        credentials: bool = True,
        env: Mapping[str, str] | None = None,
        input: str = "",
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        extra = {**(CREDENTIALS if credentials else {}), **(env or {})}
        return pycti(*args, cwd=workdir, env=extra, input=input, timeout=timeout)

    return run
