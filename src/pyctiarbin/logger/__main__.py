"""``python -m pyctiarbin.logger ...``: the same as ``pycti log ...``."""

from __future__ import annotations

import sys

from ..cli import run

if __name__ == "__main__":
    sys.exit(run(["log", *sys.argv[1:]]))
