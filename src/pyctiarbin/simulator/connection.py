"""One client connection of the simulator's server, and what the server knows of it.

A connection belongs to the control port or the file port; it becomes a session once logged in.
Its state (login, control permission, kick-out flag, unfinished uploads, injected faults, the
partial frame held in the memory budget) is read by the dispatcher and the command handlers and
kept up to date by the listener that reads its bytes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..protocol import Message
from .faults import FaultState
from .files import UploadState

__all__ = ["ANY_PORT", "CONTROL_PORT", "FILE_PORT", "Connection", "Reply"]

CONTROL_PORT = "control"
FILE_PORT = "file"
#: A command served on both ports (file commands: on the control port after a LOGIN).
ANY_PORT = "any"

#: What a handler answers with: a message, or a frame already encoded.
Reply = Message | bytes


@dataclass(eq=False)
class Connection:
    """One client connection (a session once logged in)."""

    number: int
    port: str
    peer: str
    local_ip: bytes
    writer: asyncio.StreamWriter
    logged_in: bool = False
    username: str = ""
    may_control: bool = False
    kick_out_allowed: bool = False
    close_after_reply: bool = False
    uploads: dict[str, UploadState] = field(default_factory=dict)
    faults: FaultState = field(default_factory=FaultState)
    #: Bytes of the partial frame reserved in the memory budget.
    frame_bytes: int = 0
    must_log_in: bool = False
    login_timer: asyncio.TimerHandle | None = None
