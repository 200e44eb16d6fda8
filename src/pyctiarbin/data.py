"""Logged data in Python: readings of a test, a channel or a time range as pandas, polars or Arrow.

::

    from pyctiarbin.data import LabData

    with LabData("sqlite:///lab.db") as lab:
        test = lab.tests()[-1]
        frame = lab.readings(test_id=test.test_id).to_pandas()   # or .to_polars(), .to_arrow()
        cycles = lab.cycles(test.test_id).to_pandas()             # capacity, efficiency per cycle

:class:`LabData` reads the logger's database (``sqlite:///...`` or ``postgresql://...``, the
schema of ``docs/logger.md``) and never writes to it. Every query returns a :class:`Table`: plain
columns with their stored types, converted on request. The columns and types are the stored ones:
``REAL``/``double precision`` -> float64 (NULL: NaN in pandas, null in Arrow and polars),
``INTEGER NOT NULL`` -> int64, a nullable ``INTEGER`` (``test_id``) -> nullable Int64, text ->
string (the aux, BMS and SMB parts stay JSON text). :func:`status_table` does the same for
what ``read_channels()`` returns.

pandas, polars and pyarrow are optional (``pip install 'pycti-arbin[data]'``); each ``to_*``
raises ImportError naming the package to install when it is missing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .client.status import ChannelStatus
from .logger.readings import READING_COLUMNS, Reading, TestRecord, reading_row
from .logger.sinks.queries import Query, QueryBuilder, ReadingSelection
from .logger.sinks.sqlite import READING_SQL_TYPES
from .shared import ClosedOnExit

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "CYCLE_COLUMNS",
    "READING_TYPES",
    "LabData",
    "ReadingSelection",
    "Table",
    "status_table",
]

#: Column kinds: ``float``, ``int``, ``int?`` (nullable integer), ``str``, ``str?``.
FLOAT, INT, NULLABLE_INT, TEXT, NULLABLE_TEXT = "float", "int", "int?", "str", "str?"


def _kind(sql_type: str) -> str:
    nullable = "NOT NULL" not in sql_type
    if sql_type.startswith("TEXT"):
        return NULLABLE_TEXT if nullable else TEXT
    if sql_type.startswith("INTEGER"):
        return NULLABLE_INT if nullable else INT
    return FLOAT


#: The kind of every column of the ``readings`` table (derived from the SQLite schema).
READING_TYPES: dict[str, str] = {
    column: _kind(READING_SQL_TYPES.get(column, "REAL")) for column in READING_COLUMNS
}

#: Columns of :meth:`LabData.cycles`.
CYCLE_COLUMNS = (
    "cycle",
    "charge_capacity_ah",
    "discharge_capacity_ah",
    "coulombic_efficiency",
    "first_unix_time_s",
    "last_unix_time_s",
    "readings",
)
_CYCLE_TYPES = (INT, FLOAT, FLOAT, FLOAT, FLOAT, FLOAT, INT)

_HINTS = {
    "pandas": "pip install 'pycti-arbin[data]' (or pip install pandas)",
    "polars": "pip install 'pycti-arbin[data]' (or pip install polars)",
    "pyarrow": "pip install 'pycti-arbin[data]' (or pip install pyarrow)",
}


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise ImportError(f"this needs {module}: {_HINTS[module]}") from exc


class Table:
    """Columns of equal length with a kind each (``float``, ``int``, ``int?``, ``str``, ``str?``).

    ``len(table)``, ``table["voltage_v"]`` (the values as a list), ``table.columns``,
    ``table.rows()``; ``to_arrow()``, ``to_pandas()``, ``to_polars()``.

    Raises:
        ValueError: from the constructor, for columns of unequal length or an unknown kind.
    """

    __slots__ = ("_data", "columns", "kinds")

    def __init__(
        self, columns: Sequence[str], kinds: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> None:
        if not len(columns) == len(kinds) == len(data):
            raise ValueError(
                f"{len(columns)} column names, {len(kinds)} kinds and {len(data)} columns"
            )
        lengths = {len(values) for values in data}
        if len(lengths) > 1:
            raise ValueError(f"columns of unequal length: {sorted(lengths)}")
        unknown = set(kinds) - {FLOAT, INT, NULLABLE_INT, TEXT, NULLABLE_TEXT}
        if unknown:
            raise ValueError(f"unknown column kind(s): {', '.join(sorted(unknown))}")
        self.columns: tuple[str, ...] = tuple(columns)
        self.kinds: tuple[str, ...] = tuple(kinds)
        self._data: dict[str, list[Any]] = {
            name: list(values) for name, values in zip(columns, data, strict=True)
        }

    @classmethod
    def from_rows(
        cls, columns: Sequence[str], kinds: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> Table:
        """A table from rows (tuples in column order)."""
        if rows:
            data = [list(values) for values in zip(*rows, strict=True)]
        else:
            data = [[] for _ in columns]
        return cls(columns, kinds, data)

    def __len__(self) -> int:
        return len(self._data[self.columns[0]]) if self.columns else 0

    def __getitem__(self, column: str) -> list[Any]:
        try:
            return self._data[column]
        except KeyError:
            raise KeyError(f"no column {column!r}; columns: {', '.join(self.columns)}") from None

    def __repr__(self) -> str:
        return f"<Table {len(self)} rows x {len(self.columns)} columns>"

    def rows(self) -> Iterator[tuple[Any, ...]]:
        """The rows as tuples, in column order."""
        return zip(*(self._data[c] for c in self.columns), strict=True)

    def to_dict(self) -> dict[str, list[Any]]:
        """``{column: values}`` (JSON-ready when the values are)."""
        return {c: self._data[c] for c in self.columns}

    def to_arrow(self) -> Any:
        """A ``pyarrow.Table`` (float64, int64, string; NULL as null).

        Raises:
            ImportError: if pyarrow is not installed (with the command that installs it).
        """
        pa = _require("pyarrow")
        types = {
            FLOAT: pa.float64(),
            INT: pa.int64(),
            NULLABLE_INT: pa.int64(),
            TEXT: pa.string(),
            NULLABLE_TEXT: pa.string(),
        }
        arrays = [
            pa.array(self._data[c], type=types[k])
            for c, k in zip(self.columns, self.kinds, strict=True)
        ]
        return pa.Table.from_arrays(arrays, names=list(self.columns))

    def to_pandas(self) -> Any:
        """A ``pandas.DataFrame``: float64 (NULL as NaN), int64, nullable ``Int64`` for a
        nullable integer column, ``string`` for text (missing as ``<NA>``).

        Raises:
            ImportError: if pandas is not installed (with the command that installs it).
        """
        pd = _require("pandas")
        series = {}
        for column, kind in zip(self.columns, self.kinds, strict=True):
            values = self._data[column]
            if kind == FLOAT:
                series[column] = pd.Series(
                    [float("nan") if v is None else v for v in values], dtype="float64"
                )
            elif kind == INT:
                series[column] = pd.Series(values, dtype="int64")
            elif kind == NULLABLE_INT:
                series[column] = pd.Series(pd.array(values, dtype="Int64"))
            else:
                series[column] = pd.Series(pd.array(values, dtype=pd.StringDtype()))
        return pd.DataFrame(series, columns=list(self.columns))

    def to_polars(self) -> Any:
        """A ``polars.DataFrame`` (Float64, Int64, String; NULL as null).

        Raises:
            ImportError: if polars is not installed (with the command that installs it).
        """
        pl = _require("polars")
        types = {
            FLOAT: pl.Float64,
            INT: pl.Int64,
            NULLABLE_INT: pl.Int64,
            TEXT: pl.String,
            NULLABLE_TEXT: pl.String,
        }
        return pl.DataFrame(
            [
                pl.Series(c, self._data[c], dtype=types[k])
                for c, k in zip(self.columns, self.kinds, strict=True)
            ]
        )


def status_table(
    statuses: Sequence[ChannelStatus], *, cycler: str = "", unix_time_s: float | None = None
) -> Table:
    """What ``read_channels()`` returned, as a :class:`Table` with the columns of the logger's
    ``readings`` table except ``test_id`` (``cycler`` as given, ``unix_time_s`` default now)."""
    when = time.time() if unix_time_s is None else unix_time_s
    columns = [c for c in READING_COLUMNS if c != "test_id"]
    skip = READING_COLUMNS.index("test_id")
    full_rows = (reading_row(Reading(cycler, when, None, status)) for status in statuses)
    rows = [row[:skip] + row[skip + 1 :] for row in full_rows]
    return Table.from_rows(columns, [READING_TYPES[c] for c in columns], rows)


class LabData(ClosedOnExit):
    """Read-only access to a logger database (SQLite or PostgreSQL).

    ``LabData(url)`` connects at once (``sqlite:///path.db`` opens the file read-only: it must
    exist; ``postgresql://...[?schema=name]`` needs the ``postgres`` extra). Use it as a context
    manager or call :meth:`close`. The methods may be called from several threads (one query at
    a time). A selection of readings (:class:`ReadingSelection`) is one test (``test_id``) or
    one channel (``cycler`` and ``channel``), optionally within ``[start_s, end_s)``.

    Raises:
        ValueError: for an unknown URL scheme or a malformed URL.
        FileNotFoundError: for an SQLite file that does not exist.
        Exception: the driver's error if the database cannot be opened.
    """

    def __init__(self, url: str) -> None:
        self._lock = threading.Lock()
        scheme = url.split(":", 1)[0].lower()
        self._conn: Any
        #: The SQL of this database's dialect.
        self.queries: QueryBuilder
        if scheme == "sqlite":
            import sqlite3

            from .logger.sinks.sqlite import SqliteQueries, path_from_url

            path = path_from_url(url)
            if not path.is_file():
                raise FileNotFoundError(f"no logger database at {path}")
            self.display_url = f"sqlite:///{path}"
            self.queries = SqliteQueries()
            self._conn = sqlite3.connect(
                f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
        elif scheme in ("postgresql", "postgres"):
            try:
                import psycopg
            except ImportError as exc:
                raise ImportError(
                    "PostgreSQL needs psycopg: pip install 'pycti-arbin[postgres]'"
                ) from exc

            from .logger.sinks.database import redact_url
            from .logger.sinks.postgres import PostgresQueries, split_url

            dsn, schema = split_url(url)
            self.display_url = redact_url(url)
            self.queries = PostgresQueries(schema)
            self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
            # Unqualified table names in the SQL of query() are those of the logger's schema.
            self._conn.execute(f"SET search_path TO {self.queries.schema_sql}")
        else:
            raise ValueError(
                f"unknown database URL scheme {scheme!r}: expected sqlite:/// or postgresql://"
            )
        self._has_alerts: bool | None = None

    def __repr__(self) -> str:
        return f"<LabData {self.display_url}>"

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._conn.close()

    # -- plumbing ------------------------------------------------------------------------------

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one SELECT (``?`` placeholders, table names unqualified) and return its rows.

        Raises:
            Exception: the driver's error.
        """
        return self._fetch((self.queries.qmark(sql), list(args)))

    def _fetch(self, query: Query) -> list[tuple[Any, ...]]:
        text, args = query
        with self._lock:
            return list(self._conn.execute(text, tuple(args)).fetchall())

    def _dicts(self, query: Query) -> list[dict[str, Any]]:
        text, args = query
        with self._lock:
            cursor = self._conn.execute(text, tuple(args))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _reading_table(self, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> Table:
        stored = list(self.queries.json_as_text(columns, rows))
        return Table.from_rows(columns, [READING_TYPES[c] for c in columns], stored)

    @staticmethod
    def _columns(columns: Sequence[str] | None) -> list[str]:
        if columns is None:
            return list(READING_COLUMNS)
        unknown = [c for c in columns if c not in READING_TYPES]
        if unknown:
            raise ValueError(
                f"unknown reading column(s) {', '.join(unknown)}; "
                f"columns: {', '.join(READING_COLUMNS)}"
            )
        return list(columns)

    # -- readings ------------------------------------------------------------------------------

    def readings(
        self, *, columns: Sequence[str] | None = None, **selection: Unpack[ReadingSelection]
    ) -> Table:
        """The stored readings of the ``selection`` in time order; all columns of the
        ``readings`` table or only ``columns``.

        Raises:
            ValueError: for neither a test nor a cycler and channel, or an unknown column.
            TypeError: for an unknown selection key.
            Exception: the driver's error.
        """
        names = self._columns(columns)
        return self._reading_table(names, self._fetch(self.queries.readings(selection, names)))

    def series(
        self,
        *,
        columns: Sequence[str] = ("unix_time_s", "voltage_v", "current_a"),
        max_points: int = 2000,
        **selection: Unpack[ReadingSelection],
    ) -> Table:
        """Like :meth:`readings`, but at most about ``max_points`` rows: when the selection
        holds more, the time span is cut into ``max_points`` equal buckets and the first
        stored reading of each is returned (one index lookup per bucket, so a test of
        millions of readings costs as much as one of thousands). The rows are real
        readings; what happened between two of them is not shown.

        Raises:
            ValueError: as :meth:`readings`, or for ``max_points`` < 2.
            TypeError: for an unknown selection key.
            Exception: the driver's error.
        """
        if max_points < 2:
            raise ValueError(f"max_points must be at least 2, not {max_points}")
        names = self._columns(columns)
        count = self._fetch(self.queries.count_up_to(selection, max_points + 1))[0][0]
        if count <= max_points:
            return self.readings(columns=names, **selection)
        first, last = self._fetch(self.queries.time_span(selection))[0]
        width = (float(last) - float(first)) / (max_points - 1)
        rows = self._fetch(self.queries.bucket_firsts(selection, names, max_points, first, width))
        # Buckets without readings of their own yield the next bucket's reading: keep one.
        unique: list[tuple[Any, ...]] = []
        time_at = names.index("unix_time_s") if "unix_time_s" in names else None
        seen: set[Any] = set()
        for row in rows:
            key = row[time_at] if time_at is not None else row
            if key not in seen:
                seen.add(key)
                unique.append(row)
        return self._reading_table(names, unique)

    def latest(self, cyclers: Sequence[str] | None = None) -> Table:
        """The latest reading of every channel (the ``latest_readings`` view), by cycler and
        channel.

        Raises:
            Exception: the driver's error.
        """
        rows = self._fetch(self.queries.latest(cyclers, READING_COLUMNS))
        return self._reading_table(READING_COLUMNS, rows)

    def cycles(self, test_id: int) -> Table:
        """Capacity and coulombic efficiency per cycle of one test (:data:`CYCLE_COLUMNS`).

        The cycle comes from the step/cycle text (``[cycle] step: ...``); the capacities are
        the largest charge and discharge capacities of the cycle (MITS counts them from zero
        in each cycle); the efficiency is discharge over charge capacity (NaN/None when
        nothing was charged). Readings without a cycle number are left out.

        Raises:
            Exception: the driver's error.
        """
        out = []
        for number, charge, discharge, first, last, count in self._fetch(
            self.queries.cycles(test_id)
        ):
            efficiency = (
                float(discharge) / float(charge)
                if charge is not None and discharge is not None and charge > 0
                else None
            )
            out.append((int(number), charge, discharge, efficiency, first, last, int(count)))
        return Table.from_rows(CYCLE_COLUMNS, _CYCLE_TYPES, out)

    # -- the other tables ----------------------------------------------------------------------

    def tests(self, *, cycler: str | None = None, channel: int | None = None) -> list[TestRecord]:
        """The stored tests, oldest first, optionally of one cycler / channel.

        Raises:
            Exception: the driver's error.
        """
        query = self.queries.tests(
            None if cycler is None else [cycler], None if channel is None else [channel]
        )
        return [TestRecord(*row) for row in self._fetch(query)]

    def test(self, test_id: int) -> TestRecord:
        """One stored test.

        Raises:
            LookupError: if no test has that id.
            Exception: the driver's error.
        """
        rows = self._fetch(self.queries.test(test_id))
        if not rows:
            raise LookupError(f"no test {test_id} in {self.display_url}")
        return TestRecord(*rows[0])

    def cyclers(self) -> list[dict[str, Any]]:
        """The ``cyclers`` table (name, address, serial number, channels, last poll time).

        Raises:
            Exception: the driver's error.
        """
        return self._dicts(self.queries.cyclers())

    def gaps(self, *, since_s: float | None = None) -> list[dict[str, Any]]:
        """The ``gaps`` table (open gaps have ``end_s`` None), optionally only those open or
        ended after ``since_s``, newest first.

        Raises:
            Exception: the driver's error.
        """
        return self._dicts(self.queries.gaps(since_s))

    def alert_events(self, *, limit: int = 500) -> list[dict[str, Any]]:
        """The alerts stored by :class:`pyctiarbin.alerts.history.AlertHistory` (newest
        first, at most ``limit``); empty when the logger never ran with alert rules.

        Raises:
            Exception: the driver's error.
        """
        if self._has_alerts is not True:
            if not self._fetch(self.queries.table_exists("alert_events"))[0][0]:
                return []
            self._has_alerts = True
        return self._dicts(self.queries.alert_events(limit))
