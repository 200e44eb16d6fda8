"""CTI clients: :class:`CyclerClient` (blocking) and :class:`AsyncCyclerClient` (asyncio).

Both run the same sans-IO operations (:mod:`.operations`) over a shared session core
(:mod:`.session`); only the I/O pump differs.
"""

from __future__ import annotations

from .clients import AsyncCyclerClient, AsyncFiles, CyclerClient, Files
from .operations import resume_ex_entry, start_ex_entry
from .session import ConnectionState, RetryPolicy
from .status import MEASUREMENT_FIELDS, ChannelStatus

__all__ = [
    "MEASUREMENT_FIELDS",
    "AsyncCyclerClient",
    "AsyncFiles",
    "ChannelStatus",
    "ConnectionState",
    "CyclerClient",
    "Files",
    "RetryPolicy",
    "resume_ex_entry",
    "start_ex_entry",
]
