"""A :class:`Chunk`: the rows a database sink writes in one transaction.

Every kind of row is written idempotently (readings and events are inserted unless present,
tests, gaps and cyclers are upserted), so writing a chunk twice leaves the database as writing
it once: a chunk whose commit went unacknowledged can simply be written again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

__all__ = ["Chunk", "channel_key"]

Row = tuple[Any, ...]

#: ``(cycler, channel)`` of a ``readings`` row.
channel_key = itemgetter(0, 1)


@dataclass(slots=True)
class Chunk:
    """Rows for the ``readings``, ``test_events``, ``tests``, ``gaps`` and ``cyclers`` tables,
    plus ``polls``: (cycler, host time) of the latest poll of each cycler in the chunk."""

    readings: list[Row] = field(default_factory=list)
    events: list[Row] = field(default_factory=list)
    tests: list[Row] = field(default_factory=list)
    gaps: list[Row] = field(default_factory=list)
    cyclers: list[Row] = field(default_factory=list)
    polls: list[Row] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """How many rows the chunk holds (all tables)."""
        return (
            len(self.readings)
            + len(self.events)
            + len(self.tests)
            + len(self.gaps)
            + len(self.cyclers)
            + len(self.polls)
        )

    @classmethod
    def merge(cls, chunks: list[Chunk]) -> Chunk:
        """One chunk with the rows of ``chunks``, in order."""
        if len(chunks) == 1:
            return chunks[0]
        merged = cls()
        for chunk in chunks:
            merged.readings.extend(chunk.readings)
            merged.events.extend(chunk.events)
            merged.tests.extend(chunk.tests)
            merged.gaps.extend(chunk.gaps)
            merged.cyclers.extend(chunk.cyclers)
            merged.polls.extend(chunk.polls)
        return merged

    def latest_polls(self) -> dict[str, float]:
        """The latest poll time per cycler."""
        latest: dict[str, float] = {}
        for cycler, when in self.polls:
            if when > latest.get(cycler, float("-inf")):
                latest[cycler] = when
        return latest

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form (see :meth:`from_json`)."""
        return {
            "r": self.readings,
            "e": self.events,
            "t": self.tests,
            "g": self.gaps,
            "c": self.cyclers,
            "p": self.polls,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Chunk:
        """The chunk :meth:`to_json` described.

        Raises:
            ValueError: if ``data`` is not such a description.
        """
        try:
            return cls(
                [tuple(row) for row in data["r"]],
                [tuple(row) for row in data["e"]],
                [tuple(row) for row in data["t"]],
                [tuple(row) for row in data["g"]],
                [tuple(row) for row in data["c"]],
                [tuple(row) for row in data["p"]],
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a chunk description: {exc}") from exc
