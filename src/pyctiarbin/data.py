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

import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .client.status import ChannelStatus
from .logger.readings import READING_COLUMNS, TEST_COLUMNS, Reading, TestRecord, reading_row
from .logger.sinks.sqlite import _READING_TYPES
from .shared import ClosedOnExit

__all__ = [
    "CYCLE_COLUMNS",
    "READING_TYPES",
    "LabData",
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
    column: _kind(_READING_TYPES.get(column, "REAL")) for column in READING_COLUMNS
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
    rows = [
        reading_row(Reading(cycler, when, None, status))[:skip]
        + reading_row(Reading(cycler, when, None, status))[skip + 1 :]
        for status in statuses
    ]
    return Table.from_rows(columns, [READING_TYPES[c] for c in columns], rows)


@dataclass(frozen=True)
class _Dialect:
    name: str
    #: SQL giving the cycle number from ``step_and_cycle_format`` (``[cycle] step: ...``).
    cycle_expr: str


_SQLITE = _Dialect(
    "sqlite",
    "CASE WHEN substr(ltrim(step_and_cycle_format), 1, 1) = '[' "
    "THEN CAST(substr(ltrim(step_and_cycle_format), 2) AS INTEGER) END",
)
_POSTGRES = _Dialect(
    "postgresql",
    "CAST(substring(step_and_cycle_format from '^\\s*\\[\\s*(\\d+)') AS integer)",
)


class LabData(ClosedOnExit):
    """Read-only access to a logger database (SQLite or PostgreSQL).

    ``LabData(url)`` connects at once (``sqlite:///path.db`` opens the file read-only: it must
    exist; ``postgresql://...[?schema=name]`` needs the ``postgres`` extra). Use it as a context
    manager or call :meth:`close`. The methods may be called from several threads (one query at
    a time).

    Raises:
        ValueError: for an unknown URL scheme or a malformed URL.
        FileNotFoundError: for an SQLite file that does not exist.
        Exception: the driver's error if the database cannot be opened.
    """

    def __init__(self, url: str) -> None:
        self._lock = threading.Lock()
        scheme = url.split(":", 1)[0].lower()
        self._conn: Any
        if scheme == "sqlite":
            import sqlite3

            from .logger.sinks.sqlite import path_from_url

            path = path_from_url(url)
            if not path.is_file():
                raise FileNotFoundError(f"no logger database at {path}")
            self.display_url = f"sqlite:///{path}"
            self.dialect = _SQLITE
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
            from psycopg import sql

            from .logger.sinks.database import redact_url
            from .logger.sinks.postgres import _split_url

            dsn, schema = _split_url(url)
            self.display_url = redact_url(url)
            self.dialect = _POSTGRES
            self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
            self._conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
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
        if self.dialect is _POSTGRES:
            sql = sql.replace("?", "%s")
        with self._lock:
            return list(self._conn.execute(sql, tuple(args)).fetchall())

    def _json_text(self, rows: list[tuple[Any, ...]], columns: Sequence[str]) -> None:
        # PostgreSQL hands jsonb back parsed: store-compatible JSON text instead.
        if self.dialect is not _POSTGRES:
            return
        positions = [i for i, c in enumerate(columns) if c in ("aux", "bms", "smb")]
        if not positions:
            return
        for n, row in enumerate(rows):
            if any(row[i] is not None and not isinstance(row[i], str) for i in positions):
                values = list(row)
                for i in positions:
                    if values[i] is not None and not isinstance(values[i], str):
                        values[i] = json.dumps(values[i], separators=(",", ":"))
                rows[n] = tuple(values)

    def _reading_table(self, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> Table:
        self._json_text(rows, columns)
        return Table.from_rows(columns, [READING_TYPES[c] for c in columns], rows)

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

    @staticmethod
    def _where(
        test_id: int | None,
        cycler: str | None,
        channel: int | None,
        start_s: float | None,
        end_s: float | None,
    ) -> tuple[str, list[Any]]:
        if test_id is None and (cycler is None or channel is None):
            raise ValueError("give a test_id, or a cycler and a channel")
        clauses: list[str] = []
        args: list[Any] = []
        for clause, value in (
            ("test_id = ?", test_id),
            ("cycler = ?", cycler),
            ("channel = ?", channel),
            ("unix_time_s >= ?", start_s),
            ("unix_time_s < ?", end_s),
        ):
            if value is not None:
                clauses.append(clause)
                args.append(value)
        return " WHERE " + " AND ".join(clauses), args

    # -- readings ------------------------------------------------------------------------------

    def readings(
        self,
        *,
        test_id: int | None = None,
        cycler: str | None = None,
        channel: int | None = None,
        start_s: float | None = None,
        end_s: float | None = None,
        columns: Sequence[str] | None = None,
    ) -> Table:
        """The stored readings of one test (``test_id``) or one channel (``cycler`` and
        ``channel``), optionally within ``[start_s, end_s)``, in time order; all columns of
        the ``readings`` table or only ``columns``.

        Raises:
            ValueError: for neither a test nor a cycler and channel, or an unknown column.
            Exception: the driver's error.
        """
        names = self._columns(columns)
        where, args = self._where(test_id, cycler, channel, start_s, end_s)
        rows = self.query(
            f"SELECT {', '.join(names)} FROM readings{where} ORDER BY unix_time_s", args
        )
        return self._reading_table(names, rows)

    def series(
        self,
        *,
        test_id: int | None = None,
        cycler: str | None = None,
        channel: int | None = None,
        start_s: float | None = None,
        end_s: float | None = None,
        columns: Sequence[str] = ("unix_time_s", "voltage_v", "current_a"),
        max_points: int = 2000,
    ) -> Table:
        """Like :meth:`readings`, but at most about ``max_points`` rows: when the selection
        holds more, the time span is cut into ``max_points`` equal buckets and the first
        stored reading of each is returned (one index lookup per bucket, so a test of
        millions of readings costs as much as one of thousands). The rows are real
        readings; what happened between two of them is not shown.

        Raises:
            ValueError: as :meth:`readings`, or for ``max_points`` < 2.
            Exception: the driver's error.
        """
        if max_points < 2:
            raise ValueError(f"max_points must be at least 2, not {max_points}")
        names = self._columns(columns)
        where, args = self._where(test_id, cycler, channel, start_s, end_s)
        count = self.query(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM readings{where} LIMIT ?) AS x",
            [*args, max_points + 1],
        )[0][0]
        if count <= max_points:
            return self.readings(
                test_id=test_id,
                cycler=cycler,
                channel=channel,
                start_s=start_s,
                end_s=end_s,
                columns=names,
            )
        first, last = self.query(
            f"SELECT MIN(unix_time_s), MAX(unix_time_s) FROM readings{where}", args
        )[0]
        width = (float(last) - float(first)) / (max_points - 1)
        selected = ", ".join(f"r.{c}" for c in names)
        # Each bucket's lookup is bounded below by the bucket start only (>= start_s, as
        # first is): with start_s in it too, the index range would begin at start_s and
        # every lookup would walk all the readings before its bucket.
        where, args = self._where(test_id, cycler, channel, None, end_s)
        if self.dialect is _POSTGRES:
            sql = (
                f"SELECT {selected} FROM generate_series(0, ? - 1) AS b(i) "
                f"CROSS JOIN LATERAL (SELECT * FROM readings{where} "
                "AND unix_time_s >= ? + b.i * ? ORDER BY unix_time_s LIMIT 1) AS r "
                "ORDER BY r.unix_time_s"
            )
            rows = self.query(sql, [max_points, *args, first, width])
        else:
            sql = (
                "WITH RECURSIVE b(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM b WHERE i + 1 < ?) "
                f"SELECT {selected} FROM b JOIN readings AS r ON r.rowid = "
                f"(SELECT rowid FROM readings{where} AND unix_time_s >= ? + b.i * ? "
                "ORDER BY unix_time_s LIMIT 1) ORDER BY r.unix_time_s"
            )
            rows = self.query(sql, [max_points, *args, first, width])
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
        where, args = "", list(cyclers or ())
        if cyclers:
            where = f" WHERE cycler IN ({', '.join('?' for _ in cyclers)})"
        if self.dialect is _POSTGRES:
            rows = self.query(
                f"SELECT {', '.join(READING_COLUMNS)} FROM latest_readings{where} "
                "ORDER BY cycler, channel",
                args,
            )
        else:
            # SQLite plans the latest_readings view as a scan of every reading; one index
            # lookup per channel instead.
            selected = ", ".join(f"r.{c}" for c in READING_COLUMNS)
            where = where.replace("cycler IN", "c.cycler IN")
            rows = self.query(
                f"SELECT {selected} FROM channels AS c JOIN readings AS r ON r.rowid = "
                "(SELECT rowid FROM readings AS x WHERE x.cycler = c.cycler "
                "AND x.channel = c.channel ORDER BY x.unix_time_s DESC LIMIT 1)"
                f"{where} ORDER BY c.cycler, c.channel",
                args,
            )
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
        cycle = self.dialect.cycle_expr
        rows = self.query(
            f"SELECT c, MAX(charge_capacity_ah), MAX(discharge_capacity_ah), "
            f"MIN(unix_time_s), MAX(unix_time_s), COUNT(*) FROM "
            f"(SELECT {cycle} AS c, charge_capacity_ah, discharge_capacity_ah, unix_time_s "
            f"FROM readings WHERE test_id = ?) AS x WHERE c IS NOT NULL GROUP BY c ORDER BY c",
            [test_id],
        )
        out = []
        for number, charge, discharge, first, last, count in rows:
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
        clauses: list[str] = []
        args: list[Any] = []
        if cycler is not None:
            clauses.append("cycler = ?")
            args.append(cycler)
        if channel is not None:
            clauses.append("channel = ?")
            args.append(channel)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        rows = self.query(
            f"SELECT {', '.join(TEST_COLUMNS)} FROM tests{where} ORDER BY first_seen_s", args
        )
        return [TestRecord(*row) for row in rows]

    def test(self, test_id: int) -> TestRecord:
        """One stored test.

        Raises:
            LookupError: if no test has that id.
            Exception: the driver's error.
        """
        rows = self.query(
            f"SELECT {', '.join(TEST_COLUMNS)} FROM tests WHERE test_id = ?", [test_id]
        )
        if not rows:
            raise LookupError(f"no test {test_id} in {self.display_url}")
        return TestRecord(*rows[0])

    def _dicts(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if self.dialect is _POSTGRES:
            sql = sql.replace("?", "%s")
        with self._lock:
            cursor = self._conn.execute(sql, tuple(args))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def cyclers(self) -> list[dict[str, Any]]:
        """The ``cyclers`` table (name, address, serial number, channels, last poll time).

        Raises:
            Exception: the driver's error.
        """
        return self._dicts("SELECT * FROM cyclers ORDER BY cycler")

    def gaps(self, *, since_s: float | None = None) -> list[dict[str, Any]]:
        """The ``gaps`` table (open gaps have ``end_s`` None), optionally only those open or
        ended after ``since_s``, newest first.

        Raises:
            Exception: the driver's error.
        """
        if since_s is None:
            return self._dicts("SELECT * FROM gaps ORDER BY start_s DESC")
        return self._dicts(
            "SELECT * FROM gaps WHERE end_s IS NULL OR end_s >= ? ORDER BY start_s DESC",
            [since_s],
        )

    def alert_events(self, *, limit: int = 500) -> list[dict[str, Any]]:
        """The alerts stored by :class:`pyctiarbin.alerts.history.AlertHistory` (newest
        first, at most ``limit``); empty when the logger never ran with alert rules.

        Raises:
            Exception: the driver's error.
        """
        if self._has_alerts is not True:
            if self.dialect is _POSTGRES:
                found = self.query("SELECT to_regclass('alert_events') IS NOT NULL")[0][0]
            else:
                found = bool(
                    self.query(
                        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alert_events'"
                    )
                )
            if not found:
                return []
            self._has_alerts = True
        return self._dicts("SELECT * FROM alert_events ORDER BY unix_time_s DESC LIMIT ?", [limit])
