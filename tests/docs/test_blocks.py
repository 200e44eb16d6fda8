"""The docs collector itself: markers, console prompts, ports and the shell rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from . import blocks
from .blocks import Block, DocsTestError, move_ports, parse_document, shell_commands, shell_script


def _document(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> list[Block]:
    monkeypatch.setattr(blocks, "REPO_ROOT", tmp_path)
    path = tmp_path / "doc.md"
    path.write_text(text, encoding="utf-8")
    return parse_document(path)


def test_markers_and_kinds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        "# Title\n\n"
        "```python\nprint(1)\n```\n\n"
        "<!-- docs-test: skip (needs a real cycler) -->\n"
        "```sh\npycti status --host 10.0.0.5\n```\n\n"
        "<!-- docs-test: file rules.toml -->\n"
        "```toml\n[defaults]\n```\n\n"
        "Some text.\n\n"
        "```json\n{}\n```\n"
        "- a list item:\n\n  ```bash\n  echo nested\n  ```\n"
    )
    found = [
        (b.line, b.language, b.kind, b.argument) for b in _document(tmp_path, text, monkeypatch)
    ]
    assert found == [
        (3, "python", "python", ""),
        (8, "sh", "skip", "(needs a real cycler)"),
        (13, "toml", "file", "rules.toml"),
        (19, "json", "unmarked", ""),
        (24, "bash", "shell", ""),
    ]


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("<!-- docs-test: ignore -->", "unknown docs-test marker 'ignore'"),
        ("<!-- docs-test: skip -->", "docs-test skip needs a reason"),
        ("<!-- docs-test: file -->", "docs-test file needs a file name"),
    ],
)
def test_bad_markers_name_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, marker: str, message: str
) -> None:
    with pytest.raises(DocsTestError, match=f"^doc.md:4: {message}"):
        _document(tmp_path, f"Text.\n\n{marker}\n```sh\nls\n```\n", monkeypatch)


def test_console_prompts_continuations_and_comments() -> None:
    block = Block(
        "doc.md",
        10,
        "console",
        "$ export A=1     # a comment\n"
        "$ pycti log --cycler a=h:9031 \\\n"
        "            --db 'sqlite:///x#y.db'\n"
        "output line\n"
        "$ echo '#not a comment' # but this is\n",
        "shell",
    )
    assert [(c.line, c.text) for c in shell_commands(block)] == [
        (11, "export A=1"),
        (12, "pycti log --cycler a=h:9031 --db 'sqlite:///x#y.db'"),
        (15, "echo '#not a comment'"),
    ]


def test_ports_move_together() -> None:
    text = "pycti sim --port 9031 --file-port 9032 & spoofer 9041; not 90310, 19031 or 9030"
    assert move_ports(text, 40000) == (
        "pycti sim --port 40000 --file-port 40001 & spoofer 40010; not 90310, 19031 or 9030"
    )


def test_shell_rules() -> None:
    block = Block(
        "doc.md",
        1,
        "sh",
        "pycti sim --port 9031 --speed 60 &\n"
        "pycti status --host 127.0.0.1 --watch 2\n"
        "pycti status --host 127.0.0.1 --watch 2 --count 1\n"
        "pycti log --cycler b=127.0.0.1:9031 --db sqlite:///lab.db\n"
        "pycti alerts --rules r.toml --check\n",
        "shell",
    )
    script = shell_script(block, 40000)
    body = script[len(blocks.PRELUDE) :].strip().splitlines()
    interrupt = blocks.interrupt_prefix()
    assert body == [
        "__docs_line=2",
        "pycti sim --port 40000 --speed 60 --file-port 40001 &",
        "__docs_wait_port 40000 $!",
        "__docs_line=3",
        interrupt + "pycti status --host 127.0.0.1 --watch 2",
        "__docs_line=4",
        "pycti status --host 127.0.0.1 --watch 2 --count 1",
        "__docs_line=5",
        interrupt + "pycti log --cycler b=127.0.0.1:40000 --db sqlite:///lab.db",
        "__docs_line=6",
        "pycti alerts --rules r.toml --check",
    ]


def test_a_failing_command_is_named_by_its_line(tmp_path: Path) -> None:
    block = Block("doc.md", 7, "sh", "true\nfalse   # fails\necho never\n", "shell")
    result = subprocess.run(
        ["bash", "-c", shell_script(block, 40000)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "docs-test: line 9 exited with status 1" in result.stderr


INTERRUPTIBLE = (
    "import sys, time\n"
    "if sys.argv[1] == 'talks': print('ready', flush=True)\n"
    "try:\n"
    "    time.sleep(60)\n"
    "except KeyboardInterrupt:\n"
    "    print('interrupted')\n"
)


def _interrupted(limit_s: float, *command: str) -> subprocess.CompletedProcess[str]:
    wrapper = Path(blocks.__file__).with_name("interrupt.py")
    return subprocess.run(
        [sys.executable, str(wrapper), str(limit_s), *command],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_command_is_interrupted_once_it_has_printed() -> None:
    # The limit is longer than the run's timeout: only the output can have set off SIGINT.
    result = _interrupted(60, sys.executable, "-c", INTERRUPTIBLE, "talks")
    assert (result.returncode, result.stdout) == (0, "ready\ninterrupted\n")


def test_a_silent_command_is_interrupted_at_the_limit() -> None:
    result = _interrupted(0.5, sys.executable, "-c", INTERRUPTIBLE, "silent")
    assert (result.returncode, result.stdout) == (0, "interrupted\n")


def test_the_command_status_is_passed_on() -> None:
    assert _interrupted(60, sys.executable, "-c", "raise SystemExit(3)").returncode == 3
    killed = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    assert _interrupted(60, sys.executable, "-c", killed).returncode == 128 + 15
