"""Run code against the seed, pycti-arbin 0.0.13, for side-by-side benchmarks.

The seed and this project share the import name ``pyctiarbin``, so the seed cannot live in the
project's environment. It gets a throwaway venv of its own, created once under
``bench/.seed-venv`` (git-ignored) and installed from the package index; a benchmark hands it a
Python snippet and gets JSON back through a subprocess.

    from _seed import run_in_seed
    result = run_in_seed("import json; print(json.dumps({'x': 1}))")
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path
from typing import Any

__all__ = ["SEED_SPEC", "SEED_VENV", "run_in_seed", "seed_python"]

SEED_SPEC = "pycti-arbin==0.0.13"
SEED_VENV = Path(__file__).resolve().parent / ".seed-venv"
# Written last, so a half-built venv (interrupted install) is rebuilt rather than trusted.
_MARKER = SEED_VENV / ".installed"


def _python_in(env_dir: Path) -> Path:
    if os.name == "nt":
        return env_dir / "Scripts" / "python.exe"
    return env_dir / "bin" / "python"


def seed_python() -> Path:
    """The interpreter of the seed venv, creating the venv and installing the seed if needed.

    Raises RuntimeError if the seed cannot be installed (no access to the package index).
    """
    python = _python_in(SEED_VENV)
    if _MARKER.is_file() and _MARKER.read_text().strip() == SEED_SPEC and python.exists():
        return python
    if SEED_VENV.exists():
        shutil.rmtree(SEED_VENV)
    print(f"[seed] creating {SEED_VENV} with {SEED_SPEC} (once) ...", file=sys.stderr, flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(SEED_VENV)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", SEED_SPEC],
        capture_output=True,
        text=True,
        check=False,
    )
    if install.returncode != 0:
        raise RuntimeError(
            f"installing {SEED_SPEC} into {SEED_VENV} failed:\n{install.stdout}{install.stderr}"
        )
    _MARKER.write_text(SEED_SPEC + "\n")
    return python


def run_in_seed(snippet: str, *, timeout_s: float = 600.0) -> Any:
    """Run ``snippet`` with the seed's interpreter and return the JSON it prints last.

    The snippet must print one JSON document on its last line of standard output. It runs in
    isolated mode (``-I``: no PYTHON* variables, no current directory on ``sys.path``) from a
    temporary directory, so this project's own ``pyctiarbin`` can never shadow the seed's.

    Raises RuntimeError with the snippet's standard error if it fails.
    """
    python = seed_python()
    with tempfile.TemporaryDirectory(prefix="pycti-seed-") as workdir:
        proc = subprocess.run(
            [str(python), "-I", "-c", snippet],
            capture_output=True,
            text=True,
            cwd=workdir,
            timeout=timeout_s,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"seed snippet failed (exit {proc.returncode}):\n{proc.stderr}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"seed snippet printed nothing:\n{proc.stderr}")
    return json.loads(lines[-1])


if __name__ == "__main__":
    info = run_in_seed(
        "import json, sys, importlib.metadata as m;"
        "print(json.dumps({'python': sys.version.split()[0],"
        " 'pycti-arbin': m.version('pycti-arbin')}))"
    )
    print(info)
