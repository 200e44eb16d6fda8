"""``python -m pyctiarbin.simulator``: run a simulated cycler (see ``--help``)."""

from __future__ import annotations

import logging
import sys

from .runner import main

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
