"""What a user gets from the package: typed top-level names, an sdist with the docs, examples
and tests, the metadata of the project, and a clear hint when an optional driver is missing."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pyctiarbin

SRC = Path(pyctiarbin.__file__).resolve().parents[1]
ROOT = SRC.parent


def test_top_level_names_are_typed_for_mypy(tmp_path: Path) -> None:
    # A name mypy only knows through a module __getattr__ is Any: its revealed type says so,
    # and using it as an annotation then returning its attribute fails --strict.
    snippet = textwrap.dedent(
        """
        from pyctiarbin import (
            AsyncCyclerClient, ChannelInterface, ChannelStatus, CyclerClient, CyclerInterface,
        )

        reveal_type(CyclerClient)
        reveal_type(AsyncCyclerClient)
        reveal_type(ChannelStatus)
        reveal_type(ChannelInterface)
        reveal_type(CyclerInterface)


        def voltage(client: CyclerClient) -> float:
            return client.read_channel(1).voltage_v
        """
    )
    result = subprocess.run(
        [
            *(sys.executable, "-m", "mypy", "--strict", "--python-version", "3.10"),
            *("--cache-dir", str(tmp_path / "cache"), "--no-error-summary", "-c", snippet),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"MYPYPATH": str(SRC), "PATH": "", "PYTHONPATH": str(SRC)},
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    revealed = [line for line in result.stdout.splitlines() if "Revealed type" in line]
    assert len(revealed) == 5, result.stdout
    names = ("CyclerClient", "AsyncCyclerClient", "ChannelStatus")
    for line, name in zip(revealed, (*names, "ChannelInterface", "CyclerInterface"), strict=True):
        assert re.search(rf'-> pyctiarbin\.[a-z_.]+\.{name}"$', line), line


def test_lazy_names_stay_lazy_at_runtime() -> None:
    code = (
        "import sys, pyctiarbin; "
        "assert 'pyctiarbin.client' not in sys.modules; "
        "from pyctiarbin import CyclerClient; "
        "assert 'pyctiarbin.client' in sys.modules and CyclerClient.__name__ == 'CyclerClient'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


def test_a_missing_psycopg_says_which_extra_to_install() -> None:
    # psycopg made unimportable in a child process, as on a machine without the extra.
    code = (
        "import sys; sys.modules['psycopg'] = None; "
        "from pyctiarbin.logger import open_sink; open_sink('postgresql://lab@db/pycti')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: PostgreSQL needs psycopg 3, which is not installed")
    assert last.endswith("pip install 'pycti-arbin[postgres]'")

    cli = (
        "import sys; sys.modules['psycopg'] = None; from pyctiarbin.cli import main; "
        "sys.argv = ['pycti', 'log', '--cycler', '127.0.0.1:9031', "
        "'--db', 'postgresql://lab@db/pycti']; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", cli],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"ARBIN_CTI_USERNAME": "u", "ARBIN_CTI_PASSWORD": "p", "PATH": ""},
    )
    assert result.returncode == 2
    assert "pip install 'pycti-arbin[postgres]'" in result.stderr
    assert "Traceback" not in result.stderr


def _files(folder: Path) -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_the_sdist_holds_docs_examples_and_tests(tmp_path: Path) -> None:
    # Built from a copy, so that the build leaves nothing in the repository.
    copy = tmp_path / "copy"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "__pycache__", "*.egg-info", ".*_cache", "dist", "build"
        ),
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))",
            str(tmp_path / "dist"),
        ],
        capture_output=True,
        text=True,
        cwd=copy,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    sdist = tmp_path / "dist" / result.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        names = {name.removeprefix(f"{top}/") for name in archive.getnames()}
        pkg_info = archive.extractfile(f"{top}/PKG-INFO")
        assert pkg_info is not None
        metadata = pkg_info.read().decode()

    expected = _files(ROOT / "docs") | _files(ROOT / "examples") | _files(ROOT / "tests")
    assert expected - names == set()
    assert {"README.md", "LICENSE", "Makefile", "src/pyctiarbin/py.typed"} <= names
    for version in ("3.10", "3.11", "3.12", "3.13"):
        assert f"Classifier: Programming Language :: Python :: {version}" in metadata
    assert "Project-URL: Source, https://" in metadata
    assert "Project-URL: Issues, https://" in metadata
