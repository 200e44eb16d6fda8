"""Constants and helpers shared by the ``pycti`` tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping

from pyctiarbin.simulator import Simulator

USER = "labtech"
# A password unlike anything the command prints, so that a leak would be found by search.
PASSWORD = "Pw-7f3Kq9-zz"

RunPycti = Callable[..., subprocess.CompletedProcess[str]]


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parent's environment without credentials or pycti settings, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ARBIN_CTI_", "PYCTI_")) and key not in ("COLUMNS", "LINES")
    }
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra or {})
    return env


def address(sim: Simulator) -> list[str]:
    """The options that point the command at ``sim``."""
    return ["--host", sim.host, "--port", str(sim.port), "--file-port", str(sim.file_port)]


def lines(text: str) -> list[str]:
    """The non-empty lines of ``text``."""
    return [line for line in text.splitlines() if line.strip()]
