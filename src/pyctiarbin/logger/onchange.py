"""On-change logging: keep a reading only when it differs from the last one kept.

An :class:`OnChangeFilter` given to a database sink (``open_sink(url, on_change=...)``) lets a
reading of a channel through only when

* it is the channel's first reading, or ``max_interval_s`` passed since the last one kept; or
* a text field, the status or the test changed; or
* a number moved beyond its tolerance (:data:`DEFAULT_TOLERANCES`; a field given ``math.inf``
  is never compared).

When a reading is kept because something changed, the last reading dropped before it is kept
too, so a step change shows as flat-then-jump rather than as a slow ramp. Test events, test rows
and gaps are always stored. Other listeners of the same logger still see every reading.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..client.status import ChannelStatus
from ..protocol import AUX_KINDS, ChannelRecord
from .readings import NUMERIC_FIELDS, Reading

__all__ = ["DEFAULT_TOLERANCES", "OnChangeFilter"]

#: Tolerance per field: a change larger than this keeps the reading. ``aux_<kind>`` applies to
#: every aux value of that kind (``aux_temperature``: °C).
DEFAULT_TOLERANCES: Mapping[str, float] = {
    "test_time_s": math.inf,
    "step_time_s": math.inf,
    "voltage_v": 0.001,
    "current_a": 0.001,
    "power_w": 0.01,
    "charge_capacity_ah": 0.001,
    "discharge_capacity_ah": 0.001,
    "charge_energy_wh": 0.005,
    "discharge_energy_wh": 0.005,
    "internal_resistance_ohm": 0.0001,
    "dvdt_vbys": math.inf,
    "acr_ohm": 0.0001,
    "aci_ohm": 0.0001,
    "aci_phase_degrees": 0.1,
    "aux_temperature": 0.1,
    "aux_voltage": 0.001,
    "bms": 0.001,
    "smb": 0.001,
}

# Compared exactly: the status fields (after the channel index) that are not numbers.
_TEXT_FIELDS = tuple(name for name in ChannelRecord.LAYOUT.names[1:] if name not in NUMERIC_FIELDS)
_TOLERANCE_NAMES = (
    frozenset(NUMERIC_FIELDS) | {f"aux_{kind}" for kind in AUX_KINDS} | {"bms", "smb"}
)


class OnChangeFilter:
    """Decides which readings to keep (see the module docstring). Not thread-safe.

    ``OnChangeFilter(tolerances=None, max_interval_s=60.0)``: ``tolerances`` override
    :data:`DEFAULT_TOLERANCES` per field.

    Raises:
        ValueError: from the constructor, for an unknown field, a negative tolerance or a
            non-positive ``max_interval_s``.
    """

    def __init__(
        self, tolerances: Mapping[str, float] | None = None, max_interval_s: float = 60.0
    ) -> None:
        merged = dict(DEFAULT_TOLERANCES)
        for name, value in (tolerances or {}).items():
            if name not in _TOLERANCE_NAMES:
                raise ValueError(
                    f"no tolerance for {name!r}; fields: {', '.join(sorted(_TOLERANCE_NAMES))}"
                )
            if not value >= 0:
                raise ValueError(f"tolerance of {name} must be >= 0, not {value!r}")
            merged[name] = float(value)
        if not max_interval_s > 0:
            raise ValueError(f"max_interval_s must be positive, not {max_interval_s!r}")
        self.max_interval_s = float(max_interval_s)
        self.tolerances = merged
        self._numeric = [
            (f, merged.get(f, 0.0)) for f in NUMERIC_FIELDS if merged.get(f, 0.0) != math.inf
        ]
        self._aux = [(k, merged.get(f"aux_{k}", 0.0)) for k in AUX_KINDS]
        self._bms = merged["bms"]
        self._smb = merged["smb"]
        self._kept: dict[tuple[str, int], Reading] = {}
        self._dropped: dict[tuple[str, int], Reading] = {}
        self.readings_in = 0
        self.readings_out = 0

    def __repr__(self) -> str:
        return f"<OnChangeFilter max_interval_s={self.max_interval_s:g}>"

    def _changed(self, old: ChannelStatus, new: ChannelStatus) -> bool:
        for name in _TEXT_FIELDS:
            if getattr(old, name) != getattr(new, name):
                return True
        for name, tolerance in self._numeric:
            if not abs(getattr(old, name) - getattr(new, name)) <= tolerance:
                return True  # NaN compares as changed
        old_aux, new_aux = old.aux, new.aux
        if old_aux is not new_aux:
            for kind, tolerance in self._aux:
                a_values, b_values = getattr(old_aux, kind), getattr(new_aux, kind)
                if len(a_values) != len(b_values):
                    return True
                if tolerance == math.inf:
                    continue
                for a, b in zip(a_values, b_values, strict=True):
                    if not abs(a.value - b.value) <= tolerance:
                        return True
        return _entries_changed(old.bms, new.bms, self._bms) or _entries_changed(
            old.smb, new.smb, self._smb
        )

    def filter(self, readings: Sequence[Reading]) -> list[Reading]:
        """The readings to keep, in order (updates the filter's memory)."""
        out: list[Reading] = []
        kept, dropped = self._kept, self._dropped
        for reading in readings:
            key = (reading.cycler, reading.status.channel_index)
            last = kept.get(key)
            if last is None:
                keep = changed = True
            else:
                changed = last.test_id != reading.test_id or self._changed(
                    last.status, reading.status
                )
                keep = changed or reading.unix_time_s - last.unix_time_s >= self.max_interval_s
            if keep:
                before = dropped.pop(key, None)
                if changed and before is not None:
                    out.append(before)
                out.append(reading)
                kept[key] = reading
            else:
                dropped[key] = reading
        self.readings_in += len(readings)
        self.readings_out += len(out)
        return out

    def flush(self) -> list[Reading]:
        """The last dropped reading of every channel (at the end of logging, so that the
        stored series ends where logging ended), oldest first."""
        tail = sorted(self._dropped.values(), key=lambda r: r.unix_time_s)
        self._dropped.clear()
        for reading in tail:
            self._kept[(reading.cycler, reading.status.channel_index)] = reading
        self.readings_out += len(tail)
        return tail


def _entries_changed(old: tuple[Any, ...], new: tuple[Any, ...], tolerance: float) -> bool:
    if old is new:
        return False
    if len(old) != len(new):
        return True
    for a, b in zip(old, new, strict=True):
        if a.index != b.index or a.unit != b.unit:
            return True
        if isinstance(a.value, str) or isinstance(b.value, str):
            if a.value != b.value:
                return True
        elif not abs(a.value - b.value) <= tolerance:
            return True
    return False
