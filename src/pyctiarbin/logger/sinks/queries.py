"""The read queries of a logger database (tests, channels, readings, gaps), built once for every
dialect.

:class:`QueryBuilder` writes the clauses; each dialect says only what differs: its parameter
mark, how a table is named (PostgreSQL qualifies it with the schema), how the length of a JSON
array is taken, the few queries each plans its own way, and whether the driver hands JSON back
parsed. Values always travel as parameters, never inside the SQL text. The logger's databases
(:mod:`.sqlite`, :mod:`.postgres`) and :class:`pyctiarbin.data.LabData` read through it.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar, TypedDict

from ..readings import READING_COLUMNS, TEST_COLUMNS

__all__ = ["JSON_COLUMNS", "Query", "QueryBuilder", "ReadingSelection"]

#: SQL text and its parameters.
Query = tuple[str, list[Any]]

#: Reading columns that hold JSON (text in SQLite, jsonb in PostgreSQL).
JSON_COLUMNS = ("aux", "bms", "smb")


class ReadingSelection(TypedDict, total=False):
    """Which readings: those of one test (``test_id``) or of one channel (``cycler`` and
    ``channel``), either optionally within ``[start_s, end_s)`` (host time, seconds)."""

    test_id: int | None
    cycler: str | None
    channel: int | None
    start_s: float | None
    end_s: float | None


class QueryBuilder(ABC):
    """SQL text and parameters of the reads of a logger database."""

    #: The DB-API parameter mark of the driver (``?`` for sqlite3, ``%s`` for psycopg).
    mark: ClassVar[str]
    #: True when the driver hands JSON columns back parsed rather than as text.
    parses_json: ClassVar[bool] = False

    @abstractmethod
    def table(self, name: str) -> str:
        """The name of table ``name`` as the SQL must write it."""

    @abstractmethod
    def aux_count(self, kind: str) -> str:
        """An aggregate: the largest number of ``kind`` aux readings in one row."""

    @abstractmethod
    def cycle_number(self) -> str:
        """An expression: the cycle number in ``step_and_cycle_format`` (``[cycle] step: ...``),
        NULL when the text holds none."""

    @abstractmethod
    def table_exists(self, name: str) -> Query:
        """One row whose first value is true when table ``name`` exists."""

    @abstractmethod
    def latest(self, cyclers: Sequence[str] | None, columns: Sequence[str]) -> Query:
        """The newest reading of every channel (of some cyclers; all when None), by cycler and
        channel."""

    @abstractmethod
    def bucket_lookups(self, selected: str, source: str) -> str:
        """SQL reading ``selected`` of the first reading of ``source`` (a ``FROM ... WHERE``)
        at or after the start of each time bucket, in time order; its marks stand for the
        number of buckets, then the parameters of ``source``, the first bucket's start and
        the bucket width."""

    # -- shared clauses ------------------------------------------------------------------------

    def _in(self, column: str, values: Sequence[Any]) -> str:
        return f"{column} IN ({', '.join(self.mark for _ in values)})"

    def _where(
        self, cyclers: Sequence[str] | None, channels: Sequence[int] | None
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if cyclers:
            clauses.append(self._in("cycler", cyclers))
            args.extend(cyclers)
        if channels:
            clauses.append(self._in("channel", channels))
            args.extend(channels)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args

    def selected_readings(self, selection: ReadingSelection) -> tuple[str, list[Any]]:
        """``" FROM readings WHERE ..."`` for the readings of ``selection``, and its parameters.

        Raises:
            TypeError: for a key that is not one of :class:`ReadingSelection`.
            ValueError: if neither a test nor a cycler and a channel are given.
        """
        unknown = sorted(set(selection) - set(ReadingSelection.__annotations__))
        if unknown:
            raise TypeError(f"unknown reading selection key(s): {', '.join(unknown)}")
        get = selection.get
        if get("test_id") is None and (get("cycler") is None or get("channel") is None):
            raise ValueError("give a test_id, or a cycler and a channel")
        conditions = (
            ("test_id = ", get("test_id")),
            ("cycler = ", get("cycler")),
            ("channel = ", get("channel")),
            ("unix_time_s >= ", get("start_s")),
            ("unix_time_s < ", get("end_s")),
        )
        given = [(clause, value) for clause, value in conditions if value is not None]
        where = " AND ".join(clause + self.mark for clause, _ in given)
        return f" FROM {self.table('readings')} WHERE {where}", [value for _, value in given]

    # -- tests, channels, cyclers, gaps, alerts ------------------------------------------------

    def tests(self, cyclers: Sequence[str] | None, channels: Sequence[int] | None) -> Query:
        """The tests of some cyclers and channels (all when None), oldest first."""
        where, args = self._where(cyclers, channels)
        select = f"SELECT {', '.join(TEST_COLUMNS)} FROM {self.table('tests')}"
        return select + where + " ORDER BY first_seen_s, cycler, channel", args

    def test(self, test_id: int) -> Query:
        """The test ``test_id`` (no row when there is none)."""
        select = f"SELECT {', '.join(TEST_COLUMNS)} FROM {self.table('tests')}"
        return f"{select} WHERE test_id = {self.mark}", [test_id]

    def channels(self, cyclers: Sequence[str] | None) -> Query:
        """The (cycler, channel) pairs known, of some cyclers (all when None)."""
        where, args = self._where(cyclers, None)
        select = f"SELECT cycler, channel FROM {self.table('channels')}"
        return select + where + " ORDER BY cycler, channel", args

    def cyclers(self) -> Query:
        """The ``cyclers`` table, by name."""
        return f"SELECT * FROM {self.table('cyclers')} ORDER BY cycler", []

    def gaps(self, since_s: float | None) -> Query:
        """The ``gaps`` table, newest first; with ``since_s``, only the gaps open or ended
        after it."""
        select = f"SELECT * FROM {self.table('gaps')}"
        if since_s is None:
            return f"{select} ORDER BY start_s DESC", []
        return f"{select} WHERE end_s IS NULL OR end_s >= {self.mark} ORDER BY start_s DESC", [
            since_s
        ]

    def alert_events(self, limit: int) -> Query:
        """The newest ``limit`` rows of ``alert_events``."""
        select = f"SELECT * FROM {self.table('alert_events')}"
        return f"{select} ORDER BY unix_time_s DESC LIMIT {self.mark}", [limit]

    # -- where a cycler's channels stood (resuming) --------------------------------------------

    def channel_tracks(self, cycler: str) -> Query:
        """Per channel of ``cycler``, from its latest reading: the channel, test id, status,
        schedule, test name, barcode and test time."""
        return (
            "SELECT channel, test_id, status, schedule, test_name, barcode, test_time_s "
            f"FROM {self.table('latest_readings')} WHERE cycler = {self.mark}",
            [cycler],
        )

    def tests_by_id(self, test_ids: Sequence[int]) -> Query:
        """The tests whose ids are ``test_ids`` (a few hundred at most: one mark each)."""
        select = f"SELECT {', '.join(TEST_COLUMNS)} FROM {self.table('tests')}"
        return f"{select} WHERE {self._in('test_id', test_ids)}", list(test_ids)

    def last_poll(self, cycler: str) -> Query:
        """The last poll time stored for ``cycler`` (NULL when none was)."""
        return f"SELECT last_poll_s FROM {self.table('cyclers')} WHERE cycler = {self.mark}", [
            cycler
        ]

    def last_reading_time(self, cycler: str) -> Query:
        """The time of the newest reading of ``cycler`` (NULL when it has none)."""
        select = f"SELECT MAX(unix_time_s) FROM {self.table('latest_readings')}"
        return f"{select} WHERE cycler = {self.mark}", [cycler]

    # -- readings ------------------------------------------------------------------------------

    def readings(
        self, selection: ReadingSelection, columns: Sequence[str] = READING_COLUMNS
    ) -> Query:
        """The ``columns`` of the readings of ``selection``, in time order.

        Raises:
            TypeError, ValueError: as :meth:`selected_readings`.
        """
        source, args = self.selected_readings(selection)
        return f"SELECT {', '.join(columns)}{source} ORDER BY unix_time_s", args

    def max_aux_count(self, kind: str, selection: ReadingSelection) -> Query:
        """The largest number of ``kind`` aux readings among the readings of ``selection``.

        Raises:
            TypeError, ValueError: as :meth:`selected_readings`.
        """
        source, args = self.selected_readings(selection)
        return f"SELECT {self.aux_count(kind)}{source}", args

    def count_up_to(self, selection: ReadingSelection, limit: int) -> Query:
        """How many readings ``selection`` holds, counting no further than ``limit``.

        Raises:
            TypeError, ValueError: as :meth:`selected_readings`.
        """
        source, args = self.selected_readings(selection)
        return f"SELECT COUNT(*) FROM (SELECT 1{source} LIMIT {self.mark}) AS x", [*args, limit]

    def time_span(self, selection: ReadingSelection) -> Query:
        """The first and last reading time of ``selection``.

        Raises:
            TypeError, ValueError: as :meth:`selected_readings`.
        """
        source, args = self.selected_readings(selection)
        return f"SELECT MIN(unix_time_s), MAX(unix_time_s){source}", args

    def bucket_firsts(
        self,
        selection: ReadingSelection,
        columns: Sequence[str],
        buckets: int,
        first_s: float,
        width_s: float,
    ) -> Query:
        """The ``columns`` of the first reading at or after the start of each of ``buckets``
        time buckets of ``width_s`` from ``first_s`` (one index lookup each), in time order.
        The lookups leave ``start_s`` of the selection out: bounded below by the bucket start
        only, none walks the readings before its bucket.

        Raises:
            TypeError, ValueError: as :meth:`selected_readings`.
        """
        source, args = self.selected_readings({**selection, "start_s": None})
        selected = ", ".join(f"r.{c}" for c in columns)
        return self.bucket_lookups(selected, source), [buckets, *args, first_s, width_s]

    def cycles(self, test_id: int) -> Query:
        """Per cycle of test ``test_id``: the cycle, its largest charge and discharge
        capacities, its first and last reading time and its number of readings."""
        return (
            "SELECT c, MAX(charge_capacity_ah), MAX(discharge_capacity_ah), "
            "MIN(unix_time_s), MAX(unix_time_s), COUNT(*) FROM "
            f"(SELECT {self.cycle_number()} AS c, charge_capacity_ah, discharge_capacity_ah, "
            f"unix_time_s FROM {self.table('readings')} WHERE test_id = {self.mark}) AS x "
            "WHERE c IS NOT NULL GROUP BY c ORDER BY c",
            [test_id],
        )

    def qmark(self, sql: str) -> str:
        """``sql``, written by hand with ``?`` marks, in this dialect's marks."""
        return sql if self.mark == "?" else sql.replace("?", self.mark)

    def json_as_text(
        self, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
    ) -> Iterable[tuple[Any, ...]]:
        """``rows`` with the JSON values the driver parsed turned back into the compact JSON
        text SQLite stores, so that both dialects read the same (``rows`` itself when there is
        nothing to turn)."""
        positions = [i for i, column in enumerate(columns) if column in JSON_COLUMNS]
        if not (self.parses_json and positions):
            return rows
        return _with_json_text(rows, positions)


def _with_json_text(
    rows: Iterable[tuple[Any, ...]], positions: Sequence[int]
) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        if any(row[i] is not None and not isinstance(row[i], str) for i in positions):
            values = list(row)
            for i in positions:
                if values[i] is not None and not isinstance(values[i], str):
                    values[i] = json.dumps(values[i], separators=(",", ":"))
            row = tuple(values)
        yield row
