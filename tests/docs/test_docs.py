"""Docs are tests: every fenced block of README.md and docs/*.md runs here, or says why not.

The conventions (markers, ports, background simulators, commands that run until Ctrl-C) are in
:mod:`tests.docs.blocks`. A failure names the document, the line of the block and of the
command that failed, and shows the block as it was run with its output.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .blocks import (
    DOCUMENTED_PORT,
    DOCUMENTED_PORTS,
    REPO_ROOT,
    Block,
    all_blocks,
    check_file_block,
    move_ports,
    shell_script,
)

BLOCK_TIMEOUT_S = 180
BLOCKS = all_blocks()
RUN = [block for block in BLOCKS if block.kind in ("python", "shell", "unmarked", "file")]


def _free_port_range() -> int:
    """A port P such that P .. P + len(DOCUMENTED_PORTS) - 1 are all free on 127.0.0.1 (now)."""
    rng = random.Random()
    for _ in range(100):
        base = rng.randrange(20000, 60000)
        sockets: list[socket.socket] = []
        try:
            for offset in range(len(DOCUMENTED_PORTS)):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    raise RuntimeError(f"no {len(DOCUMENTED_PORTS)} consecutive free ports found on 127.0.0.1")


def _environment(home: Path, port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ARBIN_CTI_", "PYCTI_")) or key == "PYCTI_TEST_POSTGRES_DSN"
    }
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([venv_bin, env.get("PATH", "")])
    env["HOME"] = str(home)
    env["PYCTI_PORT"] = str(port)
    env["PYCTI_FILE_PORT"] = str(port + 1)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONPATH", None)
    return env


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int | None, str, str]:
    """(exit status or None on timeout, stdout, stderr); a timeout kills the whole group."""
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=BLOCK_TIMEOUT_S)
        return process.returncode, out, err
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        return None, out, err


def _numbered(text: str, first_line: int) -> str:
    return "\n".join(f"{first_line + i:5d} | {line}" for i, line in enumerate(text.splitlines()))


@pytest.mark.parametrize("block", RUN, ids=[block.test_id for block in RUN])
def test_docs_block(block: Block, tmp_path: Path) -> None:
    if block.kind == "unmarked":
        pytest.fail(
            f"{block.where}: a ```{block.language or '(no language)'} block is neither run nor "
            "marked: put <!-- docs-test: skip REASON --> or <!-- docs-test: file NAME --> "
            "on the line before its fence",
            pytrace=False,
        )
    if block.kind == "file":
        try:
            check_file_block(block)
        except ValueError as exc:
            pytest.fail(
                f"{block.where}: file {block.argument} does not parse: {exc}", pytrace=False
            )
        return

    work = tmp_path / "work"
    # Blocks run as from the root of a checkout: the repository's examples/ are there.
    shutil.copytree(REPO_ROOT / "examples", work / "examples")
    for other in BLOCKS:
        if other.document == block.document and other.kind == "file":
            target = work / other.argument
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(other.text, encoding="utf-8")
    port = _free_port_range()
    env = _environment(work, port)
    if block.kind == "python":
        source = move_ports(block.text, port)
        script = tmp_path / "block.py"
        script.write_text(source, encoding="utf-8")
        argv = [sys.executable, "-W", "error", str(script)]
    else:
        source = shell_script(block, port)
        script = tmp_path / "block.sh"
        script.write_text(source, encoding="utf-8")
        argv = ["bash", str(script)]
    status, out, err = _run(argv, work, env)
    if status == 0:
        return
    what = f"timed out after {BLOCK_TIMEOUT_S} s" if status is None else f"exit status {status}"
    pytest.fail(
        f"{block.where}: ```{block.language} block failed ({what})\n"
        f"--- the block (ports {DOCUMENTED_PORT}+k moved to {port}+k) ---\n"
        f"{_numbered(block.text, block.line + 1)}\n"
        f"--- stdout ---\n{out.rstrip()}\n--- stderr ---\n{err.rstrip()}\n"
        f"(run in {work}; script {script})",
        pytrace=False,
    )
