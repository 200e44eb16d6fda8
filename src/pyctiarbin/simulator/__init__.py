"""The cycler simulator: asyncio CTI server, channel state machine, cell model and schedules.

``Simulator`` serves CTI on TCP like MITS Pro does, backed by a cell model per channel that runs
schedules (``*.sdx``: the shipped ones, and users' own in ``<root>/Work``). ``run`` and
``python -m pyctiarbin.simulator`` run it as a program. Importing this package starts nothing.
"""

from __future__ import annotations

from .config import Faults, SimulatorConfig, parse_users, resolve_users
from .cycler import ChannelSnapshot, Cycler
from .runner import build_arg_parser, config_from_args, config_from_options, main, run
from .server import Simulator

__all__ = [
    "ChannelSnapshot",
    "Cycler",
    "Faults",
    "Simulator",
    "SimulatorConfig",
    "build_arg_parser",
    "config_from_args",
    "config_from_options",
    "main",
    "parse_users",
    "resolve_users",
    "run",
]
