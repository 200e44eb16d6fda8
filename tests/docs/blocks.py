"""The fenced code blocks of README.md and docs/*.md, and how each one is run.

Every fenced block is one of:

* **runnable**: ```` ```python ```` runs as a script of its own (a fresh interpreter: a block
  must import what it uses, as a reader copying it would); ```` ```sh ````, ``bash``, ``shell``
  and ``console`` (the lines after ``$ ``) run in a fresh ``bash`` with ``set -e -o pipefail``;
* **a file**: ``<!-- docs-test: file NAME -->`` right before the fence. The block's text is
  written to ``NAME`` in the working directory of every runnable block of the same document
  (a rules file, a plan, a lab config); TOML and JSON files are also parsed;
* **marked**: ``<!-- docs-test: skip REASON -->`` right before the fence, with the reason in
  words (a real cycler at a lab address, sample output, ...). The comment is in the source,
  next to the block, for whoever edits it.

A block in any other language without a marker is an error: a new example is run, or says why not.

Runnable blocks of one document run in document order, each in a new directory (its ``HOME``
too, so ``~/lab.toml`` stays inside) holding the document's files and a copy of the repository's
``examples/``, as if run from the root of a checkout. A simulator is never
started for a block: blocks start their own (``pycti sim --port 9031 ... &``, or ``Simulator()``
in Python). So that they never collide with anything else on the machine, the ports are moved:
``9031 + k`` in the block (k < 19: ``9031``, ``9032``, ``9041``, ...) becomes ``P + k`` for a
free range starting at P, and ``PYCTI_PORT`` / ``PYCTI_FILE_PORT`` hold P and P + 1, so a command
relying on the default ports (``--host`` alone) reaches the same simulator. The environment is
otherwise clean: no ``ARBIN_CTI_*`` or ``PYCTI_*`` variable is inherited, and the venv's ``bin``
comes first on ``PATH``.

Shell blocks are run as a terminal would, with three rules for what a terminal does by hand:

* a command put in the background with ``&`` that starts a simulator is waited for until its
  control port accepts connections; every background job is stopped (SIGTERM) when the block ends;
* a command that runs until Ctrl-C (``pycti log`` without ``--duration``, ``pycti alerts``
  without ``--check`` or ``--duration``, ``--watch`` without ``--count``, a ``pycti sim`` in the
  foreground) gets SIGINT once it runs (``interrupt.py``: shortly after its first output, at
  most ``INTERRUPT_AFTER_S`` seconds after it started) and must then exit 0, as the docs
  promise for Ctrl-C;
* a ``pycti sim`` with ``--port`` but no ``--file-port`` gets ``--file-port P+1``, the file port
  the docs promise for it.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ("README.md", "docs/*.md")

PYTHON = ("python", "py", "python3")
SHELL = ("sh", "bash", "shell", "console")
#: The ports the docs use: 9031 (control) and 9032 (files) of the first cycler, more up to 9049.
DOCUMENTED_PORT = 9031
DOCUMENTED_PORTS = range(DOCUMENTED_PORT, DOCUMENTED_PORT + 19)
INTERRUPT_AFTER_S = 6  # for a command that prints nothing: long enough to start on a loaded machine

_MARKER = re.compile(r"<!--\s*docs-test:\s*(?P<kind>\w+)\s*(?P<arg>.*?)\s*-->", re.DOTALL)


class DocsTestError(Exception):
    """A marker or block the collector cannot make sense of."""


@dataclass(frozen=True)
class Block:
    """One fenced block of a document."""

    document: str  # path relative to the repository, e.g. "docs/cli.md"
    line: int  # 1-based line of the opening fence
    language: str  # first word of the info string, lower case ("" if none)
    text: str
    kind: str  # "python", "shell", "file", "skip" or "unmarked"
    argument: str = ""  # file name for "file", reason for "skip"

    @property
    def where(self) -> str:
        return f"{self.document}:{self.line}"

    @property
    def test_id(self) -> str:
        return f"{self.document}:{self.line}:{self.language or 'text'}"


def documents() -> list[Path]:
    paths: list[Path] = []
    for pattern in DOCUMENTS:
        paths.extend(sorted(REPO_ROOT.glob(pattern)))
    return paths


def parse_document(path: Path) -> list[Block]:
    """Every fenced block of ``path``, with the marker that precedes it (if any)."""
    document = path.relative_to(REPO_ROOT).as_posix()
    tokens = MarkdownIt("commonmark").parse(path.read_text(encoding="utf-8"))
    blocks = []
    previous = None
    for token in tokens:
        if token.type == "fence" and token.map is not None:
            language = (token.info.split() or [""])[0].lower()
            marker = None
            if previous is not None and previous.type == "html_block":
                marker = _MARKER.search(previous.content)
            line = token.map[0] + 1
            if marker is not None:
                kind, argument = marker["kind"], marker["arg"]
                if kind not in ("skip", "file"):
                    raise DocsTestError(
                        f"{document}:{line}: unknown docs-test marker {kind!r} "
                        "(use 'skip REASON' or 'file NAME')"
                    )
                if not argument:
                    what = "a reason" if kind == "skip" else "a file name"
                    raise DocsTestError(f"{document}:{line}: docs-test {kind} needs {what}")
            elif language in PYTHON:
                kind, argument = "python", ""
            elif language in SHELL:
                kind, argument = "shell", ""
            else:
                kind, argument = "unmarked", ""
            blocks.append(Block(document, line, language, token.content, kind, argument))
        previous = token
    return blocks


def all_blocks() -> list[Block]:
    return [block for path in documents() for block in parse_document(path)]


def check_file_block(block: Block) -> None:
    """Parse a file block whose format we can read; raise ValueError naming what is wrong."""
    name = block.argument
    if name.endswith(".toml"):
        tomllib.loads(block.text)
    elif name.endswith(".json"):
        json.loads(block.text)


# --------------------------------------------------------------------------------------------
# Ports


def move_ports(text: str, base: int) -> str:
    """``text`` with each documented port 9031 + k (k < 19) replaced by ``base`` + k."""

    def moved(match: re.Match[str]) -> str:
        return str(base + int(match[0]) - DOCUMENTED_PORT)

    return re.sub(r"\b90(3[1-9]|4[0-9])\b", moved, text)


# --------------------------------------------------------------------------------------------
# Shell


@dataclass(frozen=True)
class Command:
    """One logical command line of a shell block (continuation lines joined)."""

    line: int  # line in the document
    text: str  # as written, comment removed


def _strip_comment(line: str) -> str:
    """``line`` without a trailing ``# comment`` (outside quotes)."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip()
    return line.rstrip()


def shell_commands(block: Block) -> list[Command]:
    """The commands of a shell block; for ``console``, only what follows a ``$ `` prompt."""
    lines = block.text.splitlines()
    commands: list[Command] = []
    pending: list[str] = []
    start = 0
    in_prompt = False
    for offset, raw in enumerate(lines):
        line_no = block.line + 1 + offset
        line = raw
        if block.language == "console" and not pending:
            if line.startswith("$ "):
                line = line[2:]
                in_prompt = True
            else:
                in_prompt = False
                continue
        elif block.language == "console" and not in_prompt:
            continue
        if not pending:
            start = line_no
        if line.rstrip().endswith("\\"):
            pending.append(line.rstrip()[:-1])
            continue
        pending.append(line)
        text = _strip_comment(" ".join(part.strip() for part in pending))
        pending = []
        if text:
            commands.append(Command(start, text))
    if pending:
        raise DocsTestError(f"{block.where}: the block ends inside a continued line")
    return commands


_SIMULATOR = re.compile(
    r"^(pycti|python3? -m pyctiarbin\.cli) sim\b|^python3? -m pyctiarbin\.simulator\b"
)


def _runs_until_interrupted(command: str) -> bool:
    words = command.split()
    if _SIMULATOR.search(command) and not command.endswith("&"):
        return True
    if re.search(r"\bpycti log\b|-m pyctiarbin\.logger\b", command):
        return "--duration" not in words
    if re.search(r"\bpycti alerts\b", command):
        return "--check" not in words and "--duration" not in words
    return "--watch" in words and "--count" not in words


def _port_of(command: str, default: int) -> int:
    match = re.search(r"--port[ =](\d+)", command)
    return int(match[1]) if match else default


PRELUDE = """\
set -e -o pipefail
__docs_line=0
__docs_stop_jobs() {
    local pids
    pids=$(jobs -p)
    if [ -n "$pids" ]; then kill $pids 2>/dev/null || true; wait $pids 2>/dev/null || true; fi
}
trap '__docs_status=$?; __docs_stop_jobs; exit $__docs_status' EXIT
trap 'echo "docs-test: line $__docs_line exited with status $?" >&2' ERR
__docs_wait_port() {  # PORT PID: until PORT accepts connections; fail if PID died
    for _ in $(seq 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        if ! kill -0 "$2" 2>/dev/null; then
            echo "docs-test: the background command (line $__docs_line) exited" >&2; return 1
        fi
        sleep 0.1
    done
    echo "docs-test: nothing listens on port $1 after 30 s (line $__docs_line)" >&2; return 1
}
"""


def interrupt_prefix() -> str:
    """What runs a command until it is interrupted, as a user would press Ctrl-C on it."""
    wrapper = Path(__file__).with_name("interrupt.py")
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(wrapper))} {INTERRUPT_AFTER_S} "


def shell_script(block: Block, port: int) -> str:
    """The bash script that runs ``block`` with its ports moved to ``port`` / ``port + 1``."""
    out = [PRELUDE]
    for command in shell_commands(block):
        text = move_ports(command.text, port)
        out.append(f"__docs_line={command.line}")
        is_simulator = _SIMULATOR.search(text) is not None
        if is_simulator and "--port" in text and not re.search(r"--(no-)?file-port", text):
            background = text.endswith("&")
            core = text[:-1].rstrip() if background else text
            text = f"{core} --file-port {_port_of(core, port) + 1}" + (" &" if background else "")
        if _runs_until_interrupted(text):
            text = interrupt_prefix() + text
        out.append(text)
        if is_simulator and text.endswith("&"):
            out.append(f"__docs_wait_port {_port_of(text, port)} $!")
    return "\n".join(out) + "\n"
