"""What a channel read returns: :class:`ChannelStatus`."""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol import ChannelRecord
from ..protocol.fields import Layout
from ..protocol.messages import record_as

__all__ = ["MEASUREMENT_FIELDS", "ChannelStatus"]

_LAYOUT: Layout = ChannelRecord.LAYOUT

#: The numeric readings of a channel, in wire order: ``test_time_s``, ``step_time_s``,
#: ``voltage_v``, ``current_a``, ``power_w``, capacities, energies, ``internal_resistance_ohm``,
#: ``dvdt_vbys``, ``acr_ohm``, ``aci_ohm``, ``aci_phase_degrees`` (the float fields of a record).
MEASUREMENT_FIELDS: tuple[str, ...] = tuple(
    name for name, kind in _LAYOUT.encoders if kind.fmt in ("f", "d")
)


@dataclass(slots=True)
class ChannelStatus(ChannelRecord):
    """The status of one channel, as read from the cycler.

    It has every attribute of a channel-info record (``status``, ``schedule``, ``test_name``,
    ``voltage_v``, ``current_a``, ``aux``, ...) plus :attr:`channel`, the 1-based channel number
    MITS displays. ``channel_index`` stays the 0-based wire index.
    """

    @classmethod
    def from_record(cls, record: ChannelRecord) -> ChannelStatus:
        """Wrap a decoded protocol record."""
        return record_as(cls, record)

    @property
    def channel(self) -> int:
        """The 1-based channel number, as MITS shows it."""
        return self.channel_index + 1

    @property
    def temperatures_c(self) -> tuple[float, ...]:
        """The aux temperature readings (°C), in aux channel order."""
        return tuple(entry.value for entry in self.aux.temperature)
