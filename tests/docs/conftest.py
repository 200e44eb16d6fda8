"""Report how many documented blocks the docs tests run and how many are marked."""

from __future__ import annotations

from collections import Counter

import pytest

from .blocks import all_blocks


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    kinds = Counter(block.kind for block in all_blocks())
    runnable = kinds["python"] + kinds["shell"]
    terminalreporter.write_line(
        f"docs blocks: {runnable} run ({kinds['python']} python, {kinds['shell']} shell), "
        f"{kinds['file']} written as files, {kinds['skip']} marked skip, "
        f"{kinds['unmarked']} unmarked"
    )
