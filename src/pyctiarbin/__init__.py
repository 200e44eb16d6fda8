"""pycti-arbin: a toolkit for Arbin battery cyclers over CTI (Console TCP/IP Interface).

The protocol layer (:mod:`pyctiarbin.protocol`) is sans-IO. On top of it sit the clients
(:class:`CyclerClient`, :class:`AsyncCyclerClient`), the seed-compatible interfaces
(:class:`CyclerInterface`, :class:`ChannelInterface`), the simulator and the lab tools.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import errors as _errors
from .errors import *  # noqa: F403

# The result codes name the CommandRejected subclass each one raises; importing them here
# registers those classes whatever a program imports first.
from .protocol import codes as _result_codes  # noqa: F401

__version__ = "1.0.0.dev0"

__all__ = [
    *_errors.__all__,
    "AsyncCyclerClient",
    "ChannelInterface",
    "ChannelStatus",
    "CyclerClient",
    "CyclerInterface",
    "__version__",
]

# The clients and interfaces are imported on first use, so `import pyctiarbin.protocol`
# stays light and free of networking imports. Type checkers see them as plain imports.
if TYPE_CHECKING:
    from .client import AsyncCyclerClient, ChannelStatus, CyclerClient
    from .interfaces import ChannelInterface, CyclerInterface

_LAZY = {
    "CyclerClient": "pyctiarbin.client",
    "AsyncCyclerClient": "pyctiarbin.client",
    "ChannelStatus": "pyctiarbin.client",
    "CyclerInterface": "pyctiarbin.interfaces",
    "ChannelInterface": "pyctiarbin.interfaces",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'pyctiarbin' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
