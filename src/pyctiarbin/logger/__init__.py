"""The data logger: every channel of every cycler into a database, with nothing lost.

::

    import asyncio
    from pyctiarbin.logger import CyclerSpec, Logger, open_sink

    cyclers = [CyclerSpec("mits-a", "10.0.0.5", 9031), CyclerSpec("mits-b", "10.0.0.6", 9031)]
    logger = Logger(cyclers, [open_sink("sqlite:///lab.db")], interval_s=1.0)
    asyncio.run(logger.run(duration_s=3600))

:class:`Logger` polls each cycler on its own connection at a fixed interval and hands a
:class:`ReadingBatch` per poll to every :class:`Listener`. Database sinks (:func:`open_sink`,
chosen by URL scheme: ``sqlite:///``, ``postgresql://``) buffer, spill and retry so that an
outage loses nothing; :class:`OnChangeFilter` stores only readings that changed;
:mod:`pyctiarbin.logger.export` writes Battery Data Format files; :mod:`pyctiarbin.logger.live`
shows a live health table. See ``docs/logger.md``.
"""

from __future__ import annotations

from .boundaries import BoundaryTracker, ChannelTrack
from .listener import Listener, OwnershipGuard, StateSource
from .onchange import DEFAULT_TOLERANCES, OnChangeFilter
from .poller import (
    CyclerHealth,
    CyclerState,
    Logger,
    LoggerHealth,
    OwnershipError,
    install_stop_signals,
)
from .readings import (
    READING_COLUMNS,
    CyclerInfo,
    CyclerSpec,
    Gap,
    Reading,
    ReadingBatch,
    TestEvent,
    TestEventKind,
    TestRecord,
)
from .sinks import (
    Database,
    DatabaseSink,
    SinkStats,
    open_database,
    open_sink,
    register_database,
)

__all__ = [
    "DEFAULT_TOLERANCES",
    "READING_COLUMNS",
    "BoundaryTracker",
    "ChannelTrack",
    "CyclerHealth",
    "CyclerInfo",
    "CyclerSpec",
    "CyclerState",
    "Database",
    "DatabaseSink",
    "Gap",
    "Listener",
    "Logger",
    "LoggerHealth",
    "OnChangeFilter",
    "OwnershipError",
    "OwnershipGuard",
    "Reading",
    "ReadingBatch",
    "SinkStats",
    "StateSource",
    "TestEvent",
    "TestEventKind",
    "TestRecord",
    "install_stop_signals",
    "open_database",
    "open_sink",
    "register_database",
]
