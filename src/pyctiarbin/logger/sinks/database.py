"""The :class:`Database` interface of the logger's storage, :class:`SqlDatabase` (the reads
every SQL database shares, in its dialect's :class:`~.queries.QueryBuilder` words), and the
registry that picks a database class by URL scheme (``sqlite``, ``postgresql``; add one with
:func:`register_database`).
"""

from __future__ import annotations

import hashlib
import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from ...protocol import AUX_KINDS
from ..boundaries import ChannelTrack, status_from_label
from ..readings import READING_COLUMNS, TestRecord
from .chunk import Chunk
from .queries import Query, QueryBuilder, ReadingSelection

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .buffered import DatabaseSink

__all__ = [
    "Database",
    "SqlDatabase",
    "open_database",
    "redact_url",
    "register_database",
    "registered_schemes",
    "spill_path_for",
]


class Database(ABC):
    """One database the logger writes to and the exporter reads from.

    Every method is blocking and is called from one thread at a time (the sink's database
    thread). :meth:`write` commits a :class:`Chunk` in one transaction or raises and leaves the
    database unchanged.
    """

    #: The URL schemes this class serves (``sqlite``, ``postgresql``).
    schemes: tuple[str, ...] = ()
    #: The sink :func:`~.buffered.open_sink` makes for this database; None: a plain
    #: :class:`~.buffered.DatabaseSink`.
    sink_class: ClassVar[type[DatabaseSink] | None] = None

    @classmethod
    @abstractmethod
    def from_url(cls, url: str) -> Database:
        """The database the URL names (nothing is opened yet).

        Raises:
            ValueError: if the URL is malformed for this scheme.
        """

    @property
    @abstractmethod
    def display_url(self) -> str:
        """The URL without any password, fit for logs and the live view."""

    @property
    @abstractmethod
    def default_spill_path(self) -> Path:
        """Where the sink spills when no spill path is given."""

    @property
    @abstractmethod
    def connected(self) -> bool:
        """True while a connection is open."""

    @abstractmethod
    def connect(self) -> None:
        """Open a connection and create the schema if needed (idempotent).

        Raises:
            Exception: the driver's error when the database cannot be reached.
        """

    def connect_existing(self) -> None:
        """Open an existing logger database to read it, creating nothing (the exporter's
        way in). The default connects as :meth:`connect` does; databases whose connect
        would create a file or tables override it.

        Raises:
            FileNotFoundError: if the database does not exist.
            LookupError: if it exists but holds no logger tables.
            Exception: the driver's error when the database cannot be reached.
        """
        self.connect()

    @abstractmethod
    def write(self, chunk: Chunk) -> None:
        """Commit ``chunk`` in one transaction.

        Raises:
            Exception: the driver's error; the transaction is rolled back.
        """

    @abstractmethod
    def disconnect(self) -> None:
        """Drop the connection (after an error, or at the end); never raises."""

    @abstractmethod
    def last_state(self, cycler: str) -> tuple[dict[int, ChannelTrack], float | None]:
        """The last stored state of each channel of ``cycler`` and its last poll time."""

    # -- reading back (export) -----------------------------------------------------------------

    @abstractmethod
    def list_tests(
        self, cyclers: Sequence[str] | None = None, channels: Sequence[int] | None = None
    ) -> list[TestRecord]:
        """The tests stored, oldest first, optionally for some cyclers / channels only."""

    @abstractmethod
    def cycler_rows(self) -> list[dict[str, Any]]:
        """The ``cyclers`` table as dicts."""

    @abstractmethod
    def channel_list(self, cyclers: Sequence[str] | None = None) -> list[tuple[str, int]]:
        """Every (cycler, channel) that has readings."""

    @abstractmethod
    def max_aux_count(self, kind: str, **selection: Unpack[ReadingSelection]) -> int:
        """The largest number of aux values of ``kind`` (``"temperature"``) in one reading of
        the ``selection`` (:class:`~.queries.ReadingSelection`)."""

    @abstractmethod
    def iter_readings(self, **selection: Unpack[ReadingSelection]) -> Iterator[dict[str, Any]]:
        """The readings of the ``selection`` (:class:`~.queries.ReadingSelection`: one test, or
        one channel within ``[start_s, end_s)``) as dicts (:data:`READING_COLUMNS` keys), in
        time order."""


#: Test ids looked up per query (SQLite allows 999 parameters in older builds).
_IDS_PER_QUERY = 500


class SqlDatabase(Database):
    """A :class:`Database` reached through a DB-API connection: its reads are written once
    here, in the words of its dialect's :class:`~.queries.QueryBuilder`."""

    #: The read queries in this database's dialect.
    queries: QueryBuilder

    @abstractmethod
    def _require(self) -> Any:
        """The open connection.

        Raises:
            Exception: the driver's error when no connection is open.
        """

    def _rows(self, query: Query) -> Any:
        text, args = query
        return self._require().execute(text, args)

    def _stream(self, query: Query) -> Iterable[tuple[Any, ...]]:
        """The rows of a query that may return many, fetched as they are read."""
        rows: Iterable[tuple[Any, ...]] = self._rows(query)
        return rows

    @staticmethod
    @contextmanager
    def _closed_on_error(connection: Any) -> Iterator[None]:
        """Close a just opened ``connection`` if setting it up raises."""
        try:
            yield
        except BaseException:
            connection.close()
            raise

    def _known_channels(self, connection: Any) -> set[tuple[str, int]]:
        text, args = self.queries.channels(None)
        return {(str(cycler), int(channel)) for cycler, channel in connection.execute(text, args)}

    def last_state(self, cycler: str) -> tuple[dict[int, ChannelTrack], float | None]:
        """See :meth:`Database.last_state` (without a stored poll time, the time of the
        newest reading).

        Raises:
            Exception: the driver's error if the database cannot be read.
        """
        rows = list(self._rows(self.queries.channel_tracks(cycler)))
        test_ids = [row[1] for row in rows if row[1] is not None]
        tests: dict[int, TestRecord] = {}
        for start in range(0, len(test_ids), _IDS_PER_QUERY):
            query = self.queries.tests_by_id(test_ids[start : start + _IDS_PER_QUERY])
            tests.update((row[0], TestRecord(*row)) for row in self._rows(query))
        tracks = {
            int(channel): ChannelTrack(
                tests.get(test_id) if test_id is not None else None,
                status_from_label(status),
                schedule,
                test_name,
                barcode,
                float(test_time_s or 0.0),
            )
            for channel, test_id, status, schedule, test_name, barcode, test_time_s in rows
        }
        last = None
        for query in (self.queries.last_poll(cycler), self.queries.last_reading_time(cycler)):
            row = self._rows(query).fetchone()
            last = row[0] if row is not None else None
            if last is not None:
                break
        return tracks, (float(last) if last is not None else None)

    def list_tests(
        self, cyclers: Sequence[str] | None = None, channels: Sequence[int] | None = None
    ) -> list[TestRecord]:
        """See :meth:`Database.list_tests`.

        Raises:
            Exception: the driver's error if the database cannot be read.
        """
        return [TestRecord(*row) for row in self._rows(self.queries.tests(cyclers, channels))]

    def cycler_rows(self) -> list[dict[str, Any]]:
        """See :meth:`Database.cycler_rows`.

        Raises:
            Exception: the driver's error if the database cannot be read.
        """
        cursor = self._rows(self.queries.cyclers())
        names = [column[0] for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def channel_list(self, cyclers: Sequence[str] | None = None) -> list[tuple[str, int]]:
        """See :meth:`Database.channel_list`.

        Raises:
            Exception: the driver's error if the database cannot be read.
        """
        return [(str(c), int(n)) for c, n in self._rows(self.queries.channels(cyclers))]

    def max_aux_count(self, kind: str, **selection: Unpack[ReadingSelection]) -> int:
        """See :meth:`Database.max_aux_count`.

        Raises:
            ValueError: for an unknown aux kind, or neither a test nor a cycler and channel.
            TypeError: for an unknown selection key.
            Exception: the driver's error if the database cannot be read.
        """
        if kind not in AUX_KINDS:
            raise ValueError(f"unknown aux kind {kind!r}; kinds: {', '.join(AUX_KINDS)}")
        row = self._rows(self.queries.max_aux_count(kind, selection)).fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0

    def iter_readings(self, **selection: Unpack[ReadingSelection]) -> Iterator[dict[str, Any]]:
        """See :meth:`Database.iter_readings` (aux, BMS and SMB as JSON text).

        Raises:
            ValueError: if neither a test nor a cycler and channel are given.
            TypeError: for an unknown selection key.
            Exception: the driver's error if the database cannot be read.
        """
        rows = self._stream(self.queries.readings(selection))
        for row in self.queries.json_as_text(READING_COLUMNS, rows):
            yield dict(zip(READING_COLUMNS, row, strict=True))


# -- registry ---------------------------------------------------------------------------------

_REGISTRY: dict[str, type[Database] | str] = {
    "sqlite": "pyctiarbin.logger.sinks.sqlite:SqliteDatabase",
    "postgresql": "pyctiarbin.logger.sinks.postgres:PostgresDatabase",
    "postgres": "pyctiarbin.logger.sinks.postgres:PostgresDatabase",
}


def register_database(scheme: str, database: type[Database] | str) -> None:
    """Make ``open_sink``/``open_database`` serve URLs ``scheme://...`` with ``database`` (a
    :class:`Database` subclass, or ``"module:Class"`` imported on first use)."""
    _REGISTRY[scheme.lower()] = database


def registered_schemes() -> list[str]:
    """The URL schemes known to :func:`open_sink`."""
    return sorted(_REGISTRY)


def _database_class(url: str) -> type[Database]:
    scheme = urlsplit(url).scheme.lower()
    entry = _REGISTRY.get(scheme)
    if entry is None:
        raise ValueError(
            f"unknown database URL scheme {scheme or '(none)'!r} in {redact_url(url)}; "
            f"known: {', '.join(registered_schemes())}"
        )
    if isinstance(entry, str):
        module_name, _, class_name = entry.partition(":")
        entry = getattr(importlib.import_module(module_name), class_name)
        if not (isinstance(entry, type) and issubclass(entry, Database)):
            raise TypeError(f"{module_name}:{class_name} is not a Database")
        _REGISTRY[scheme] = entry
    return entry


def redact_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***`` (for logs, errors and names)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def open_database(url: str) -> Database:
    """The :class:`Database` for ``url`` (``sqlite:///path.db``, ``postgresql://...``); not
    connected yet.

    Raises:
        ValueError: for an unknown scheme or a malformed URL.
        ImportError: if the driver of the scheme is not installed (PostgreSQL needs the
            ``postgres`` extra).
    """
    return _database_class(url).from_url(url)


def spill_path_for(url: str, directory: Path | None = None) -> Path:
    """A spill file name derived from a database URL (password left out)."""
    digest = hashlib.sha1(redact_url(url).encode()).hexdigest()[:12]
    return (directory or Path.cwd()) / f"pycti-spill-{digest}.sqlite"
