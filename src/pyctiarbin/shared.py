"""Small facts and rules that several layers need, each declared once.

The CTI default ports, the TOML reader of this Python, how a list of channels is written by a
person (``1-8,10``), and the capped exponential backoff between retries. Standard library only,
so any layer may import it (the import-contract test places it at the bottom).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from types import TracebackType
from typing import Any, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "DEFAULT_FILE_PORT",
    "DEFAULT_PORT",
    "AsyncClosedOnExit",
    "Backoff",
    "ChannelSpecError",
    "ClosedOnExit",
    "StartedOnAsyncEnter",
    "StartedOnEnter",
    "parse_channel_spec",
    "tomllib",
]

#: The CTI control port of a standard MITS installation.
DEFAULT_PORT = 9031
#: The CTI file port: MITS listens on the control port + 1.
DEFAULT_FILE_PORT = DEFAULT_PORT + 1


class Backoff:
    """Capped exponential backoff: ``first_s``, twice that, four times, ... up to ``max_s``.

    Used between reconnection attempts of the logger's poller, the database sinks and the alert
    notifiers, and between the retries of a client read (``RetryPolicy``).
    """

    __slots__ = ("first_s", "max_s")

    def __init__(self, first_s: float, max_s: float = math.inf) -> None:
        if first_s < 0 or max_s < first_s:
            raise ValueError(
                f"backoff: first_s ({first_s}) must be >= 0 and max_s ({max_s}) >= first_s"
            )
        self.first_s = first_s
        self.max_s = max_s

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError(f"backoff: attempts are numbered from 1 (got {attempt})")
        # Past ~1000 doublings the float overflows; long before that the cap applies.
        return float(min(self.max_s, self.first_s * 2.0 ** min(attempt - 1, 1000)))

    def __repr__(self) -> str:
        return f"Backoff(first_s={self.first_s!r}, max_s={self.max_s!r})"


_Closable = TypeVar("_Closable", bound="ClosedOnExit")


class ClosedOnExit:
    """A mixin: ``with obj:`` gives ``obj`` and calls its ``close()`` on the way out."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _Closable) -> _Closable:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_AsyncClosable = TypeVar("_AsyncClosable", bound="AsyncClosedOnExit")


class _AsyncExit:
    """The end of an ``async with`` block awaits :meth:`_leave` (what it does is the mixin's)."""

    async def _leave(self) -> None:
        raise NotImplementedError

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._leave()


class AsyncClosedOnExit(_AsyncExit):
    """A mixin: ``async with obj:`` gives ``obj`` and awaits its ``close()`` on the way out."""

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self: _AsyncClosable) -> _AsyncClosable:
        return self

    async def _leave(self) -> None:
        await self.close()


class ChannelSpecError(ValueError):
    """A channel list that is not numbers, ranges ``A-B`` or commas of them."""


def parse_channel_spec(spec: Any, *, what: str = "channels") -> frozenset[int]:
    """``[1, 2, 5]``, ``"1-8,10"`` or ``3`` -> a set of 1-based channel numbers.

    Raises:
        ChannelSpecError: for anything else, an empty list, a range that goes downwards or a
            channel below 1; the message starts with ``what``.
    """
    numbers: set[int] = set()
    items: Iterable[Any]
    if isinstance(spec, str):
        items = [part.strip() for part in spec.split(",") if part.strip()]
    elif isinstance(spec, int) and not isinstance(spec, bool):
        items = [spec]
    elif isinstance(spec, (list, tuple)):
        items = spec
    else:
        raise ChannelSpecError(f"{what}: expected a list of channels or a text like '1-8,10'")
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            numbers.add(item)
            continue
        text = str(item).strip()
        low, dash, high = text.partition("-")
        try:
            first = int(low)
            last = int(high) if dash else first
        except ValueError:
            raise ChannelSpecError(
                f"{what}: expected a channel number, a range A-B or a list A,B,C (got {text!r})"
            ) from None
        if last < first:
            raise ChannelSpecError(
                f"{what}: channels start at 1 and a range goes upwards (got {text!r})"
            )
        numbers.update(range(first, last + 1))
    if not numbers:
        raise ChannelSpecError(f"{what}: no channel given")
    if min(numbers) < 1:
        raise ChannelSpecError(f"{what}: channels are numbered from 1 (got {min(numbers)})")
    return frozenset(numbers)


_Startable = TypeVar("_Startable", bound="StartedOnEnter")
_AsyncStartable = TypeVar("_AsyncStartable", bound="StartedOnAsyncEnter")


class StartedOnEnter(ClosedOnExit):
    """A mixin: ``with obj:`` calls ``obj.start()``, gives ``obj`` and calls ``obj.stop()`` on
    the way out (servers and processes that run in the background while the block runs);
    ``close()`` is ``stop()``."""

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> object:
        raise NotImplementedError

    def close(self) -> None:
        """Stop (what a ``with`` block's end does)."""
        self.stop()

    def __enter__(self: _Startable) -> _Startable:
        self.start()
        return self


class StartedOnAsyncEnter(_AsyncExit):
    """A mixin: ``async with obj:`` awaits ``obj.start_async()``, gives ``obj`` and awaits
    ``obj.stop_async()`` on the way out."""

    async def start_async(self) -> object:
        raise NotImplementedError

    async def stop_async(self) -> object:
        raise NotImplementedError

    async def __aenter__(self: _AsyncStartable) -> _AsyncStartable:
        await self.start_async()
        return self

    async def _leave(self) -> None:
        await self.stop_async()
