"""bench/logger.py runs end to end on a small lab, into SQLite and PostgreSQL.

The benchmark is a measurement, not a test; this only makes sure it still runs (both the
logger and its floor, whose PostgreSQL path has its own imports) and prints its ratio, so that
the figures it is quoted for can always be measured again. No timing is asserted.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "logger.py"


def run_bench(*args: str) -> str:
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--cyclers",
            "2",
            "--channels",
            "4",
            "--duration",
            "2",
            "--runs",
            "1",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_logger_benchmark_measures_logger_and_floor(db_url: str) -> None:
    output = run_bench(*([] if db_url.startswith("sqlite") else ["--db", db_url]))
    assert "PostgreSQL" in output if "postgresql" in db_url else "SQLite" in output
    ratio = re.search(r"floor, median .*logger/floor (\d+\.\d+)", output)
    assert ratio is not None, output
    assert float(ratio.group(1)) > 0
    stored = re.search(r"readings stored\s+(\d+)", output)
    assert stored is not None and int(stored.group(1)) > 0, output
