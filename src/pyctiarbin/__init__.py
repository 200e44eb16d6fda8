"""pycti-arbin: a toolkit for Arbin battery cyclers over CTI (Console TCP/IP Interface).

The protocol layer (:mod:`pyctiarbin.protocol`) is sans-IO. On top of it sit the clients
(:class:`CyclerClient`, :class:`AsyncCyclerClient`), the seed-compatible interfaces
(:class:`CyclerInterface`, :class:`ChannelInterface`), the simulator and the lab tools.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    BatchRejected,
    ChannelNotRunning,
    ChannelRunning,
    ChecksumError,
    CommandRejected,
    CtiConnectionError,
    CtiError,
    CtiTimeout,
    EncodeError,
    FileOperationFailed,
    LengthError,
    LoginError,
    MetaCodeNotFound,
    NoScheduleAssigned,
    NotAllowedToControl,
    ProtocolError,
    ScheduleNotFound,
    TokenError,
    TooFrequent,
    TruncatedFrameError,
    UnexpectedFeedback,
    UnknownChannel,
    UnknownCommandError,
    UnsupportedCommand,
)

__version__ = "1.0.0.dev0"

__all__ = [
    "AsyncCyclerClient",
    "BatchRejected",
    "ChannelInterface",
    "ChannelNotRunning",
    "ChannelRunning",
    "ChannelStatus",
    "ChecksumError",
    "CommandRejected",
    "CtiConnectionError",
    "CtiError",
    "CtiTimeout",
    "CyclerClient",
    "CyclerInterface",
    "EncodeError",
    "FileOperationFailed",
    "LengthError",
    "LoginError",
    "MetaCodeNotFound",
    "NoScheduleAssigned",
    "NotAllowedToControl",
    "ProtocolError",
    "ScheduleNotFound",
    "TokenError",
    "TooFrequent",
    "TruncatedFrameError",
    "UnexpectedFeedback",
    "UnknownChannel",
    "UnknownCommandError",
    "UnsupportedCommand",
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
