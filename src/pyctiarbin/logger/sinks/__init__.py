"""Database sinks of the logger, chosen by URL scheme (:func:`open_sink`).

``sqlite:///path.db`` (the default, stdlib ``sqlite3``) and ``postgresql://...`` (psycopg 3,
the ``postgres`` extra). Add a scheme with :func:`register_database`.
"""

from __future__ import annotations

from .buffered import DatabaseSink, SinkStats, open_sink
from .chunk import Chunk
from .database import Database, open_database, register_database, registered_schemes
from .spill import SpillFile, SpillLocked

__all__ = [
    "Chunk",
    "Database",
    "DatabaseSink",
    "SinkStats",
    "SpillFile",
    "SpillLocked",
    "open_database",
    "open_sink",
    "register_database",
    "registered_schemes",
]
