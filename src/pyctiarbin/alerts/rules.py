"""Alert rules: what to watch on live readings, and when an episode starts and ends.

Five kinds of rule, all with a scope (``cyclers``, ``channels``), a ``severity``, the
notifiers to tell (``notify``), an optional ``action`` (``"stop"`` the channel when it fires),
a hold time before firing (``for_s``) and one before resolving (``clear_for_s``):

* :class:`ThresholdRule`: a reading field or aux channel compared with a value, with an
  optional hysteresis band (``clear``);
* :class:`StatusRule`: a status transition (to Unsafe, Error, Finished, Pause, ...);
* :class:`CommFailureRule`: the channel record's communication-failure flag;
* :class:`StaleDataRule`: a running channel whose test time has not moved for N readings;
* :class:`UnreachableRule`: the cycler cannot be read (cycler-wide, no channel).

Each rule turns one reading into an :class:`Observation` (is the condition met, is it clear,
what value was seen); the engine's episode tracker applies the hold times. Rules are plain
frozen dataclasses; :func:`rule_from_mapping` builds one from a TOML table (docs/alerts.md).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..client.status import MEASUREMENT_FIELDS, ChannelStatus
from ..protocol import AUX_KINDS, StatusCode
from ..shared import ChannelSpecError, parse_channel_spec
from .events import Severity

__all__ = [
    "RECORD_FIELDS",
    "CommFailureRule",
    "FieldRef",
    "Observation",
    "Rule",
    "RuleError",
    "RuleMemory",
    "StaleDataRule",
    "StatusRule",
    "ThresholdRule",
    "UnreachableRule",
    "parse_channels",
    "parse_status",
    "rule_from_mapping",
]


class RuleError(ValueError):
    """A rule, or a rules file, is invalid. The message names the rule and the key."""


#: Numeric fields of a channel reading that a threshold rule may watch.
RECORD_FIELDS = MEASUREMENT_FIELDS

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}

_INDEXED = re.compile(r"^(?P<group>aux\.(?P<kind>[a-z]+)|bms|smb)(?:\[(?P<index>\d+)\])?$")


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A reading field a threshold watches, parsed from text.

    ``"voltage_v"`` (any name in :data:`RECORD_FIELDS`), ``"aux.temperature"`` (every aux
    temperature of the channel), ``"aux.temperature[2]"`` (aux temperature 2, 1-based as MITS
    numbers aux channels), ``"temperature"`` (short for ``aux.temperature``), ``"bms[7]"`` /
    ``"smb[3]"`` (the CAN-BMS or SMB entry with that index). Any aux kind works:
    ``aux.voltage``, ``aux.pressure``, ``aux.humidity``, ...
    """

    text: str
    group: str  # "record", "aux", "bms" or "smb"
    name: str  # record field name or aux kind
    index: int | None

    @classmethod
    def parse(cls, text: str) -> FieldRef:
        """Raises RuleError for an unknown field, naming the valid ones."""
        cleaned = text.strip().lower()
        if cleaned == "temperature" or cleaned.startswith("temperature["):
            cleaned = "aux." + cleaned
        if cleaned in RECORD_FIELDS:
            return cls(cleaned, "record", cleaned, None)
        match = _INDEXED.match(cleaned)
        if match is not None:
            index = int(match["index"]) if match["index"] is not None else None
            if match["kind"] is not None:
                if match["kind"] not in AUX_KINDS:
                    raise RuleError(
                        f"unknown aux kind {match['kind']!r} in field {text!r}; "
                        f"aux kinds: {', '.join(AUX_KINDS)}"
                    )
                if index is not None and index < 1:
                    raise RuleError(f"aux channels are numbered from 1, not {text!r}")
                return cls(cleaned, "aux", match["kind"], index)
            if index is None:
                raise RuleError(f"field {text!r} needs an index, e.g. {match['group']}[1]")
            return cls(cleaned, match["group"], match["group"], index)
        raise RuleError(
            f"unknown field {text!r}; use one of {', '.join(RECORD_FIELDS)}, "
            "aux.<kind>[n] (e.g. aux.temperature[1]), temperature, bms[n] or smb[n]"
        )

    @property
    def needs_aux(self) -> bool:
        """True when the field is only present in readings taken with aux data."""
        return self.group != "record"

    def values(self, status: ChannelStatus) -> list[tuple[str, float]]:
        """The (label, value) pairs this field has in ``status``; empty when it is absent
        (e.g. aux data was not read, or the channel has fewer aux channels)."""
        if self.group == "record":
            return [(self.text, float(getattr(status, self.name)))]
        if self.group == "aux":
            entries = getattr(status.aux, self.name)
            if self.index is not None:
                if self.index > len(entries):
                    return []
                return [(self.text, float(entries[self.index - 1].value))]
            return [
                (f"aux.{self.name}[{number}]", float(entry.value))
                for number, entry in enumerate(entries, start=1)
            ]
        source = status.bms if self.group == "bms" else status.smb
        return [
            (self.text, float(entry.value))
            for entry in source
            if entry.index == self.index and isinstance(entry.value, (int, float))
        ]


@dataclass(frozen=True, slots=True)
class Observation:
    """What a rule saw in one reading.

    ``triggered``: the firing condition holds. ``cleared``: the resolving condition holds
    (for a rule without hysteresis, ``not triggered``). ``value``: what was seen, for the
    message. ``detail``: the rest of the message (e.g. ``"aux.temperature[1] = 47.1 > 45"``).
    """

    triggered: bool
    cleared: bool
    value: float | str | None
    detail: str


class RuleMemory:
    """Per (rule, cycler, channel) state a rule keeps between readings (previous status,
    stale counters). Owned by the engine; rules read and update it in :meth:`Rule.observe`."""

    __slots__ = ("armed", "count", "last_test_time_s", "previous_status")

    def __init__(self) -> None:
        self.previous_status: StatusCode | None = None
        self.armed = False
        self.count = 0
        self.last_test_time_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class Rule:
    """What every rule has. Use a subclass.

    ``name`` identifies the rule in messages (unique in a rules file). ``cyclers`` and
    ``channels`` restrict where it applies (None: everywhere). ``notify`` names notifiers
    (None: the file's defaults). ``action``: ``"stop"`` stops the channel when the rule fires.
    ``for_s``: the condition must hold this long before the alert fires; ``clear_for_s``: the
    clear condition must hold this long before it resolves.

    Raises:
        RuleError: from the constructor for an invalid value.
    """

    kind: ClassVar[str] = ""
    #: True for rules about a whole cycler (no channel).
    cycler_wide: ClassVar[bool] = False

    name: str
    severity: Severity = Severity.WARNING
    notify: tuple[str, ...] | None = None
    action: str | None = None
    cyclers: frozenset[str] | None = None
    channels: frozenset[int] | None = None
    for_s: float = 0.0
    clear_for_s: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise RuleError("every rule needs a non-empty name")
        for key in ("for_s", "clear_for_s"):
            value = getattr(self, key)
            if not _is_number(value) or not math.isfinite(value) or value < 0:
                raise RuleError(f"rule {self.name!r}: {key} must be a number >= 0, not {value!r}")
        if self.action is not None and self.action != "stop":
            raise RuleError(f"rule {self.name!r}: unknown action {self.action!r} (only 'stop')")
        if self.action is not None and self.cycler_wide:
            raise RuleError(f"rule {self.name!r}: a {self.kind} rule has no channel to stop")
        if self.channels is not None and self.cycler_wide:
            raise RuleError(f"rule {self.name!r}: a {self.kind} rule applies to whole cyclers")

    def applies_to(self, cycler: str, channel: int | None) -> bool:
        """True when ``cycler`` (and ``channel``) are in the rule's scope."""
        if self.cyclers is not None and cycler not in self.cyclers:
            return False
        return self.channels is None or channel is None or channel in self.channels

    def observe(self, status: ChannelStatus, memory: RuleMemory) -> Observation | None:
        """Look at one reading of a channel in scope. None when the reading does not carry
        what the rule watches (e.g. no aux data): the episode then stays as it is."""
        raise NotImplementedError


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: float) -> str:
    return f"{value:.6g}"


@dataclass(frozen=True, kw_only=True)
class ThresholdRule(Rule):
    """``field op value``, e.g. ``aux.temperature > 45``.

    ``clear``: hysteresis. The alert resolves only once the value is back past ``clear``
    (for ``>``/``>=``: ``value <= clear``; for ``<``/``<=``: ``value >= clear``). Default:
    ``value`` itself (resolves as soon as the condition no longer holds). When ``field`` names
    several aux channels, the worst one counts (highest for ``>``, lowest for ``<``).
    """

    kind: ClassVar[str] = "threshold"

    field: FieldRef
    op: str
    value: float
    clear: float | None = None

    def __post_init__(self) -> None:
        Rule.__post_init__(self)
        if self.op not in _OPERATORS:
            raise RuleError(
                f"rule {self.name!r}: op must be one of {', '.join(_OPERATORS)}, not {self.op!r}"
            )
        for key in ("value", "clear"):
            number = getattr(self, key)
            if number is None and key == "clear":
                continue
            if not _is_number(number) or not math.isfinite(number):
                raise RuleError(f"rule {self.name!r}: {key} must be a finite number")
        if self.clear is not None:
            above = self.op.startswith(">")
            if (above and self.clear > self.value) or (not above and self.clear < self.value):
                side = "at or below" if above else "at or above"
                raise RuleError(
                    f"rule {self.name!r}: clear ({self.clear}) must be {side} value "
                    f"({self.value}) for op {self.op!r}"
                )

    def observe(self, status: ChannelStatus, memory: RuleMemory) -> Observation | None:
        values = self.field.values(status)
        if not values:
            return None
        pick = max if self.op.startswith(">") else min
        label, value = pick(values, key=lambda item: item[1])
        compare = _OPERATORS[self.op]
        if math.isnan(value):
            # A NaN compares false both ways: neither fire nor resolve on it.
            return None
        triggered = compare(value, self.value)
        clear_at = self.value if self.clear is None else self.clear
        cleared = not compare(value, clear_at)
        return Observation(
            triggered,
            cleared,
            value,
            f"{label} = {_fmt(value)} ({self.op} {_fmt(self.value)})",
        )


#: Status names accepted in rules: labels ("Unsafe", "External Charge") and enum names.
def parse_status(text: str) -> StatusCode:
    """``"Unsafe"``, ``"unsafe"``, ``"EXTERNAL_CHARGE"`` or ``"External Charge"`` -> StatusCode.

    ``"Paused"`` is accepted for ``Pause``. Raises RuleError naming the valid statuses.
    """
    key = text.strip().lower().replace("_", " ")
    if key == "paused":
        key = "pause"
    for status in StatusCode:
        if key in (status.label.lower(), status.name.lower().replace("_", " ")):
            return status
    valid = ", ".join(status.label for status in StatusCode)
    raise RuleError(f"unknown status {text!r}; statuses: {valid}")


@dataclass(frozen=True, kw_only=True)
class StatusRule(Rule):
    """The channel's status changes to one of ``to`` (e.g. Unsafe, Error).

    ``from_statuses``: only transitions from these statuses count (None: from any other).
    ``include_initial``: also fire when the first reading already shows a status in ``to``
    (default False: a rule started next to a channel that finished yesterday stays quiet).
    The episode resolves when the status leaves ``to``.
    """

    kind: ClassVar[str] = "status"

    to: frozenset[StatusCode]
    from_statuses: frozenset[StatusCode] | None = None
    include_initial: bool = False

    def __post_init__(self) -> None:
        Rule.__post_init__(self)
        if not self.to:
            raise RuleError(f"rule {self.name!r}: 'to' names no status")

    def observe(self, status: ChannelStatus, memory: RuleMemory) -> Observation:
        previous = memory.previous_status
        current = status.status
        memory.previous_status = current
        inside = current in self.to
        if not inside:
            memory.armed = False
        elif not memory.armed:
            if previous is None:
                memory.armed = self.include_initial
            elif previous not in self.to:
                memory.armed = self.from_statuses is None or previous in self.from_statuses
        changed = previous is not None and previous != current
        came_from = f" (was {previous.label})" if changed and previous is not None else ""
        return Observation(
            memory.armed, not inside, current.label, f"status {current.label}{came_from}"
        )


@dataclass(frozen=True, kw_only=True)
class CommFailureRule(Rule):
    """The channel record's communication-failure flag is set (MITS lost the channel)."""

    kind: ClassVar[str] = "comm_failure"

    def observe(self, status: ChannelStatus, memory: RuleMemory) -> Observation:
        flag = int(status.comm_failure)
        failed = flag != 0
        return Observation(failed, not failed, flag, f"communication failure flag = {flag}")


@dataclass(frozen=True, kw_only=True)
class StaleDataRule(Rule):
    """A running channel's test time has not changed for ``intervals`` readings in a row.

    Resolves when the test time moves again or the channel stops running.
    """

    kind: ClassVar[str] = "stale"

    intervals: int = 5

    def __post_init__(self) -> None:
        Rule.__post_init__(self)
        if not isinstance(self.intervals, int) or isinstance(self.intervals, bool):
            raise RuleError(f"rule {self.name!r}: intervals must be an integer")
        if self.intervals < 1:
            raise RuleError(f"rule {self.name!r}: intervals must be >= 1")

    def observe(self, status: ChannelStatus, memory: RuleMemory) -> Observation:
        test_time = status.test_time_s
        if not status.status.is_running:
            memory.count = 0
            memory.last_test_time_s = None
        else:
            if memory.last_test_time_s is not None and test_time == memory.last_test_time_s:
                memory.count += 1
            else:
                memory.count = 0
            memory.last_test_time_s = test_time
        stale = memory.count >= self.intervals
        return Observation(
            stale,
            not stale,
            test_time,
            f"test time stuck at {_fmt(test_time)} s for {memory.count} readings "
            f"while {status.status.label}",
        )


@dataclass(frozen=True, kw_only=True)
class UnreachableRule(Rule):
    """The cycler cannot be read: ``after`` failed reads in a row (and ``for_s``, if set).
    Resolves at the first successful read. Cycler-wide: ``channel`` is None in its events."""

    kind: ClassVar[str] = "unreachable"
    cycler_wide: ClassVar[bool] = True

    after: int = 1

    def __post_init__(self) -> None:
        Rule.__post_init__(self)
        if not isinstance(self.after, int) or isinstance(self.after, bool) or self.after < 1:
            raise RuleError(f"rule {self.name!r}: after must be an integer >= 1")

    def observe(self, status: ChannelStatus, memory: RuleMemory) -> Observation:
        raise TypeError("an unreachable rule observes read failures, not channel readings")

    def observe_failure(self, error: BaseException, memory: RuleMemory) -> Observation:
        """One failed read of the cycler."""
        memory.count += 1
        text = f"{type(error).__name__}: {error}"
        return Observation(
            memory.count >= self.after,
            False,
            text,
            f"unreachable ({memory.count} failed reads; last: {text})",
        )

    def observe_success(self, memory: RuleMemory) -> Observation:
        """One successful read of the cycler."""
        memory.count = 0
        return Observation(False, True, "reachable", "reachable again")


_RULE_CLASSES: dict[str, type[Rule]] = {
    cls.kind: cls
    for cls in (ThresholdRule, StatusRule, CommFailureRule, StaleDataRule, UnreachableRule)
}

_COMMON_KEYS = {
    "name",
    "kind",
    "severity",
    "notify",
    "action",
    "cyclers",
    "channels",
    "for_s",
    "clear_for_s",
}
_KIND_KEYS = {
    "threshold": {"field", "op", "value", "clear"},
    "status": {"to", "from", "include_initial"},
    "comm_failure": set(),
    "stale": {"intervals"},
    "unreachable": {"after"},
}


def parse_channels(spec: Any, *, what: str = "channels") -> frozenset[int]:
    """``[1, 2, 5]``, ``"1-8,10"`` or ``3`` -> a set of 1-based channel numbers.

    Raises:
        ValueError: (RuleError) for anything else, or a channel below 1, naming ``what``.
    """
    try:
        return parse_channel_spec(spec, what=what)
    except ChannelSpecError as exc:
        raise RuleError(str(exc)) from None


def _string_list(value: Any, key: str, rule: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise RuleError(f"rule {rule!r}: {key} must be a string or a list of strings")


def rule_from_mapping(table: Mapping[str, Any]) -> Rule:
    """Build a rule from one ``[[rules]]`` table of a rules file (see docs/alerts.md).

    Raises:
        RuleError: for a missing or unknown key, or an invalid value; the message names the
            rule and the key.
    """
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RuleError("every [[rules]] entry needs a name")
    kind = table.get("kind")
    if kind not in _RULE_CLASSES:
        raise RuleError(f"rule {name!r}: kind must be one of {', '.join(_RULE_CLASSES)}")
    unknown = set(table) - _COMMON_KEYS - _KIND_KEYS[kind]
    if unknown:
        raise RuleError(
            f"rule {name!r}: unknown key(s) {', '.join(sorted(unknown))} for a {kind} rule"
        )
    common: dict[str, Any] = {"name": name}
    if "severity" in table:
        try:
            common["severity"] = Severity(str(table["severity"]).lower())
        except ValueError as exc:
            valid = ", ".join(s.value for s in Severity)
            raise RuleError(f"rule {name!r}: severity must be one of {valid}") from exc
    if "notify" in table:
        common["notify"] = _string_list(table["notify"], "notify", name)
    if "action" in table:
        common["action"] = table["action"]
    if "cyclers" in table:
        common["cyclers"] = frozenset(_string_list(table["cyclers"], "cyclers", name))
    if "channels" in table:
        common["channels"] = parse_channels(table["channels"], what=f"rule {name!r}: channels")
    for key in ("for_s", "clear_for_s"):
        if key in table:
            common[key] = table[key]
    specific: dict[str, Any] = {}
    if kind == "threshold":
        for key in ("field", "op", "value"):
            if key not in table:
                raise RuleError(f"rule {name!r}: a threshold rule needs {key!r}")
        if not isinstance(table["field"], str):
            raise RuleError(f"rule {name!r}: field must be a string")
        try:
            specific["field"] = FieldRef.parse(table["field"])
        except RuleError as exc:
            raise RuleError(f"rule {name!r}: {exc}") from exc
        specific["op"] = table["op"]
        specific["value"] = table["value"]
        if "clear" in table:
            specific["clear"] = table["clear"]
    elif kind == "status":
        if "to" not in table:
            raise RuleError(f"rule {name!r}: a status rule needs 'to'")
        try:
            specific["to"] = frozenset(
                parse_status(s) for s in _string_list(table["to"], "to", name)
            )
            if "from" in table:
                specific["from_statuses"] = frozenset(
                    parse_status(s) for s in _string_list(table["from"], "from", name)
                )
        except RuleError as exc:
            raise RuleError(f"rule {name!r}: {exc}") from exc
        if "include_initial" in table:
            if not isinstance(table["include_initial"], bool):
                raise RuleError(f"rule {name!r}: include_initial must be true or false")
            specific["include_initial"] = table["include_initial"]
    for key in ("intervals", "after"):
        if key in table:
            specific[key] = table[key]
    return _RULE_CLASSES[kind](**common, **specific)
