"""What the alert engine reports: :class:`AlertEvent` (an alert fired or resolved)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = ["AlertEvent", "EventKind", "Severity", "format_duration"]


class EventKind(str, enum.Enum):
    """An episode starts with FIRED and ends with RESOLVED (exactly one of each)."""

    FIRED = "fired"
    RESOLVED = "resolved"


class Severity(str, enum.Enum):
    """How bad a rule's condition is (carried in every event; notifiers show it)."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


def format_duration(seconds: float) -> str:
    """``75.2`` -> ``"1 min 15 s"``: durations in alert messages."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.3g} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One alert message: an episode of ``rule`` fired, or resolved.

    ``cycler`` is the cycler's name; ``channel`` the 1-based channel, or None for a cycler-wide
    rule (unreachable). ``time`` is the host time (Unix seconds) of the reading that fired or
    resolved the episode; ``started_at`` the time it fired (equal to ``time`` for FIRED).
    ``value`` is what was observed (a number for thresholds, a status label for status rules,
    an error text for an unreachable cycler). ``message`` is one human-readable line.
    """

    kind: EventKind
    rule: str
    severity: Severity
    cycler: str
    channel: int | None
    time: float
    started_at: float
    value: float | str | None
    message: str

    @property
    def where(self) -> str:
        """``"A ch 3"`` or ``"A"``."""
        return self.cycler if self.channel is None else f"{self.cycler} ch {self.channel}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (the webhook's ``json`` payload)."""
        return {
            "event": self.kind.value,
            "rule": self.rule,
            "severity": self.severity.value,
            "cycler": self.cycler,
            "channel": self.channel,
            "value": self.value,
            "message": self.message,
            "time": _iso(self.time),
            "time_unix": self.time,
            "started_at": _iso(self.started_at),
            "duration_s": self.time - self.started_at,
        }


def _iso(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, tz=timezone.utc).isoformat(timespec="milliseconds")
