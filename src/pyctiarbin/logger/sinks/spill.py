"""The spill file: a local SQLite FIFO of chunks that could not reach the database yet.

A :class:`~pyctiarbin.logger.sinks.buffered.DatabaseSink` keeps what it could not write in memory up
to a bound, then moves the oldest chunks here; once the database is back it drains this file
first, in order, and then its memory. The file survives a crash of the logger: the next logger
that opens it drains it. Writes to the database are idempotent, so a chunk written but not yet
deleted from here when the logger died is written again without harm.

One process owns a spill file at a time (SQLite's exclusive locking mode); a second process gets
the next free name (``<path>.1``, ``<path>.2``, ...). Not thread-safe: use it from one thread.

Layout: ``chunks(seq INTEGER PRIMARY KEY, rows INTEGER, payload TEXT)``; ``payload`` is the JSON
of a :class:`Chunk`. ``seq`` orders the chunks; a chunk put back in front gets a seq below all.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from .chunk import Chunk

__all__ = ["SpillFile", "SpillLocked"]

log = logging.getLogger("pyctiarbin.logger.spill")

_MAX_ALTERNATES = 16


class SpillLocked(OSError):
    """Every candidate spill file is owned by another process."""


class SpillFile:
    """A FIFO of chunks in a local SQLite file, opened lazily.

    ``SpillFile(path)`` does not touch the disk; :meth:`open_existing` takes over a file left
    behind by an earlier run, :meth:`append` creates the file when first needed.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.base_path = Path(path)
        self.path: Path | None = None
        self._db: sqlite3.Connection | None = None
        self.rows = 0
        self.chunks = 0

    def __repr__(self) -> str:
        return f"<SpillFile {self.path or self.base_path} {self.chunks} chunks, {self.rows} rows>"

    def _candidates(self) -> list[Path]:
        base = self.base_path
        return [base] + [base.with_name(f"{base.name}.{n}") for n in range(1, _MAX_ALTERNATES)]

    def _try_open(self, path: Path) -> sqlite3.Connection | None:
        db = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        try:
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("BEGIN EXCLUSIVE")
            db.execute(
                "CREATE TABLE IF NOT EXISTS chunks "
                "(seq INTEGER PRIMARY KEY, rows INTEGER NOT NULL, payload TEXT NOT NULL)"
            )
            db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            db.close()
            if "locked" in str(exc) or "busy" in str(exc):
                return None
            raise
        return db

    def _take(self, path: Path, db: sqlite3.Connection) -> None:
        self.path = path
        self._db = db
        rows, chunks = db.execute("SELECT COALESCE(SUM(rows), 0), COUNT(*) FROM chunks").fetchone()
        self.rows, self.chunks = int(rows), int(chunks)

    def open_existing(self) -> bool:
        """Take over a spill file left by an earlier run, if one exists and no other process
        owns it; True if one was opened (it may hold chunks to drain).

        Raises:
            sqlite3.Error: if an existing file is not a spill file or is damaged.
        """
        if self._db is not None:
            return True
        for path in self._candidates():
            if not path.exists():
                continue
            db = self._try_open(path)
            if db is not None:
                self._take(path, db)
                if self.chunks:
                    log.warning(
                        "spill file %s holds %d rows from an earlier run; they will be "
                        "written first",
                        path,
                        self.rows,
                    )
                return True
        return False

    def _ensure_open(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        for path in self._candidates():
            path.parent.mkdir(parents=True, exist_ok=True)
            db = self._try_open(path)
            if db is not None:
                self._take(path, db)
                log.warning("spilling to %s", path)
                return db
        raise SpillLocked(f"every spill file {self.base_path}[.N] is in use by another process")

    def append(self, chunks: list[Chunk]) -> None:
        """Add chunks at the end (one transaction).

        Raises:
            SpillLocked: if no spill file can be owned; sqlite3.Error on a disk problem.
        """
        db = self._ensure_open()
        records = [
            (chunk.rows, json.dumps(chunk.to_json(), separators=(",", ":"))) for chunk in chunks
        ]
        with db:
            db.executemany("INSERT INTO chunks (rows, payload) VALUES (?, ?)", records)
        self.rows += sum(r for r, _ in records)
        self.chunks += len(records)

    def push_front(self, chunks: list[Chunk]) -> None:
        """Put chunks back at the front, keeping their order (one transaction).

        Raises:
            SpillLocked: if no spill file can be owned; sqlite3.Error on a disk problem.
        """
        db = self._ensure_open()
        with db:
            (first,) = db.execute("SELECT COALESCE(MIN(seq), 1) FROM chunks").fetchone()
            seq = int(first) - len(chunks)
            for chunk in chunks:
                db.execute(
                    "INSERT INTO chunks (seq, rows, payload) VALUES (?, ?, ?)",
                    (seq, chunk.rows, json.dumps(chunk.to_json(), separators=(",", ":"))),
                )
                seq += 1
        self.rows += sum(chunk.rows for chunk in chunks)
        self.chunks += len(chunks)

    def peek(self, max_rows: int) -> tuple[int, Chunk] | None:
        """The oldest chunks, merged, up to about ``max_rows`` rows (at least one chunk), with
        the seq of the last one; None when empty.

        Raises:
            sqlite3.Error: on a disk problem; ValueError if a payload is damaged.
        """
        db = self._db
        if db is None or not self.chunks:
            return None
        taken: list[Chunk] = []
        last_seq = 0
        total = 0
        for seq, rows, payload in db.execute("SELECT seq, rows, payload FROM chunks ORDER BY seq"):
            if taken and total + rows > max_rows:
                break
            taken.append(Chunk.from_json(_loads(payload)))
            last_seq = seq
            total += rows
        if not taken:
            return None
        return last_seq, Chunk.merge(taken)

    def delete_through(self, seq: int) -> None:
        """Delete the chunks up to and including ``seq`` (after they were written).

        Raises:
            sqlite3.Error: on a disk problem.
        """
        db = self._db
        if db is None:
            return
        with db:
            db.execute("DELETE FROM chunks WHERE seq <= ?", (seq,))
            rows, chunks = db.execute(
                "SELECT COALESCE(SUM(rows), 0), COUNT(*) FROM chunks"
            ).fetchone()
        self.rows, self.chunks = int(rows), int(chunks)

    def close(self) -> None:
        """Close the file; delete it when it is empty."""
        db, self._db = self._db, None
        if db is None:
            return
        empty = self.chunks == 0
        db.close()
        if empty and self.path is not None:
            for suffix in ("", "-journal"):
                target = self.path.with_name(self.path.name + suffix)
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
        elif self.path is not None:
            log.warning("spill file %s keeps %d rows for the next run", self.path, self.rows)


def _loads(payload: str) -> dict[str, Any]:
    value = json.loads(payload)
    if not isinstance(value, dict):
        raise ValueError("a spill chunk payload is not a JSON object")
    return value
