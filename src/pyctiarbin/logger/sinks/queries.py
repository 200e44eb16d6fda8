"""The read queries of the databases (tests, channels, readings), built once for every dialect.

:class:`QueryBuilder` writes the clauses; each dialect says only what differs: its parameter
mark, how a table is named (PostgreSQL qualifies it with the schema) and how the length of a JSON
array is taken. Values always travel as parameters, never inside the SQL text.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from ..readings import READING_COLUMNS, TEST_COLUMNS

__all__ = ["QueryBuilder"]

Query = tuple[str, list[Any]]


class QueryBuilder(ABC):
    """SQL text and parameters of the reads a :class:`~.database.Database` serves."""

    #: The DB-API parameter mark of the driver (``?`` for sqlite3, ``%s`` for psycopg).
    mark: ClassVar[str]

    @abstractmethod
    def table(self, name: str) -> str:
        """The name of table ``name`` as the SQL must write it."""

    @abstractmethod
    def aux_count(self, kind: str) -> str:
        """An aggregate: the largest number of ``kind`` aux readings in one row."""

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

    def tests(self, cyclers: Sequence[str] | None, channels: Sequence[int] | None) -> Query:
        """The tests of some cyclers and channels (all when None), oldest first."""
        where, args = self._where(cyclers, channels)
        select = f"SELECT {', '.join(TEST_COLUMNS)} FROM {self.table('tests')}"
        return select + where + " ORDER BY first_seen_s, cycler, channel", args

    def channels(self, cyclers: Sequence[str] | None) -> Query:
        """The (cycler, channel) pairs known, of some cyclers (all when None)."""
        where, args = self._where(cyclers, None)
        select = f"SELECT cycler, channel FROM {self.table('channels')}"
        return select + where + " ORDER BY cycler, channel", args

    def _reading_filter(
        self,
        test_id: int | None,
        cycler: str | None,
        channel: int | None,
        start_s: float | None,
        end_s: float | None,
    ) -> tuple[str, list[Any]]:
        if test_id is None and (cycler is None or channel is None):
            raise ValueError("iter_readings needs a test_id, or a cycler and a channel")
        conditions = (
            ("test_id = ", test_id),
            ("cycler = ", cycler),
            ("channel = ", channel),
            ("unix_time_s >= ", start_s),
            ("unix_time_s < ", end_s),
        )
        given = [(clause, value) for clause, value in conditions if value is not None]
        where = " AND ".join(clause + self.mark for clause, _ in given)
        return f" FROM {self.table('readings')} WHERE {where}", [value for _, value in given]

    def readings(
        self,
        test_id: int | None,
        cycler: str | None,
        channel: int | None,
        start_s: float | None,
        end_s: float | None,
    ) -> Query:
        """The readings of one test, or of one channel within ``[start_s, end_s)``, in time
        order (:data:`READING_COLUMNS`).

        Raises:
            ValueError: if neither a test nor a cycler and channel are given.
        """
        source, args = self._reading_filter(test_id, cycler, channel, start_s, end_s)
        return f"SELECT {', '.join(READING_COLUMNS)}{source} ORDER BY unix_time_s", args

    def max_aux_count(
        self,
        kind: str,
        test_id: int | None,
        cycler: str | None,
        channel: int | None,
        start_s: float | None,
        end_s: float | None,
    ) -> Query:
        """The largest number of ``kind`` aux readings among the rows :meth:`readings` selects.

        Raises:
            ValueError: if neither a test nor a cycler and channel are given.
        """
        source, args = self._reading_filter(test_id, cycler, channel, start_s, end_s)
        return f"SELECT {self.aux_count(kind)}{source}", args
