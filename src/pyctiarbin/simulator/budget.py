"""The simulator's one memory budget for what its clients make it hold.

Two things grow with what a client sends before the simulator can act on it: the partial frame
a connection is in the middle of sending, and the chunks of an upload that has not received its
last chunk yet. Both are reserved in one :class:`MemoryBudget` shared by every connection of a
simulator, so that the total stays bounded whatever many clients do. The server (not this
class) decides what happens when a reservation is refused: the connection whose partial frame
would exceed the budget is closed; an upload chunk that would exceed it is refused with the
UPLOAD failure code 2. Uploads keep a quarter of the budget free (``keep_free``), so that the
frame of the next request can still be received and answered, not cut off.
"""

from __future__ import annotations

__all__ = ["MemoryBudget"]


class MemoryBudget:
    """A byte count that reservations may not take above ``limit_bytes``.

    Used from the simulator's event loop only; the figures may be read from any thread.

    Raises:
        ValueError: from the constructor, if ``limit_bytes`` is negative.
    """

    __slots__ = ("limit_bytes", "peak_bytes", "refusals", "used_bytes")

    def __init__(self, limit_bytes: int) -> None:
        if limit_bytes < 0:
            raise ValueError(f"limit_bytes must be >= 0, got {limit_bytes!r}")
        self.limit_bytes = limit_bytes
        self.used_bytes = 0
        self.peak_bytes = 0
        self.refusals = 0

    def try_reserve(self, count: int, keep_free: int = 0) -> bool:
        """Reserve ``count`` more bytes; False (nothing reserved) if that leaves less than
        ``keep_free`` bytes of the limit free."""
        if count <= 0:
            return True
        if self.used_bytes + count > self.limit_bytes - keep_free:
            self.refusals += 1
            return False
        self.used_bytes += count
        self.peak_bytes = max(self.peak_bytes, self.used_bytes)
        return True

    def release(self, count: int) -> None:
        """Give back ``count`` bytes reserved earlier."""
        if count > 0:
            self.used_bytes = max(0, self.used_bytes - count)

    def __repr__(self) -> str:
        return (
            f"MemoryBudget(used={self.used_bytes}, peak={self.peak_bytes}, "
            f"limit={self.limit_bytes}, refusals={self.refusals})"
        )
