"""What a channel read returns: :class:`ChannelStatus`."""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from ..protocol import AUX_KINDS, ChannelRecord, CommandCode, DeferredChannelRecord
from ..protocol.fields import Layout
from ..protocol.framing import CHECKSUM, HEADER_SIZE

__all__ = ["MEASUREMENT_FIELDS", "ChannelStatus"]

_RECORD_FIELDS = (
    *ChannelRecord.LAYOUT.names,
    "aux",
    "bms",
    "smb",
)
_get_record_values = attrgetter(*_RECORD_FIELDS)
_LAYOUT: Layout = ChannelRecord.LAYOUT

#: The numeric readings of a channel, in wire order: ``test_time_s``, ``step_time_s``,
#: ``voltage_v``, ``current_a``, ``power_w``, capacities, energies, ``internal_resistance_ohm``,
#: ``dvdt_vbys``, ``acr_ohm``, ``aci_ohm``, ``aci_phase_degrees`` (the float fields of a record).
MEASUREMENT_FIELDS: tuple[str, ...] = tuple(
    name for name, kind in _LAYOUT.encoders if kind.fmt in ("f", "d")
)


@dataclass(slots=True)
class ChannelStatus(DeferredChannelRecord):
    """The status of one channel, as read from the cycler.

    It has every attribute of a channel-info record (``status``, ``schedule``, ``test_name``,
    ``voltage_v``, ``current_a``, ``aux``, ...) plus :attr:`channel`, the 1-based channel number
    MITS displays. ``channel_index`` stays the 0-based wire index. The statuses of a
    whole-cycler read are decoded from the answer on first access (see
    :class:`~pyctiarbin.protocol.DeferredChannelRecord`).
    """

    @classmethod
    def from_record(cls, record: ChannelRecord) -> ChannelStatus:
        """Wrap a decoded protocol record."""
        return cls(*_get_record_values(record))

    @property
    def channel(self) -> int:
        """The 1-based channel number, as MITS shows it."""
        return self.channel_index + 1

    @property
    def temperatures_c(self) -> tuple[float, ...]:
        """The aux temperature readings (°C), in aux channel order."""
        return tuple(entry.value for entry in self.aux.temperature)

    def to_dict(self) -> dict[str, Any]:
        """The channel as the dictionary pycti-arbin 0.0.13 returned for a one-channel read.

        Same keys and value conventions: ``channel`` is the 0-based wire index, ``status`` the
        status text (``"Rest"``), aux readings as ``aux_<kind>`` and ``aux_<kind>_dt`` lists.
        """
        result: dict[str, Any] = {
            "header": 0x11DDDDDDDDDDDDDD,
            "msg_length": HEADER_SIZE
            + 4
            + _LAYOUT.size
            + 28
            + CHECKSUM.size
            + 8 * sum(self.aux.counts()),
            "command_code": int(CommandCode.GET_CHANNELS_INFO_FEEDBACK),
            "extended_command_code": 0,
            "number_of_channels": 1,
            "channel": self.channel_index,
            "status": self.status.label,
            "comm_failure": self.comm_failure,
            "schedule": self.schedule,
            "testname": self.test_name,
            "exit_condition": self.exit_condition,
            "step_and_cycle_format": self.step_and_cycle_format,
            "barcode": self.barcode,
            "can_config_name": self.can_config_name,
            "smb_config_name": self.smb_config_name,
            "master_channel": self.master_channel,
            "test_time_s": self.test_time_s,
            "step_time_s": self.step_time_s,
            "voltage_v": self.voltage_v,
            "current_a": self.current_a,
            "power_w": self.power_w,
            "charge_capacity_ah": self.charge_capacity_ah,
            "discharge_capacity_ah": self.discharge_capacity_ah,
            "charge_energy_wh": self.charge_energy_wh,
            "discharge_energy_wh": self.discharge_energy_wh,
            "internal_resistance_ohm": self.internal_resistance_ohm,
            "dvdt_vbys": self.dvdt_vbys,
            "acr_ohm": self.acr_ohm,
            "aci_ohm": self.aci_ohm,
            "aci_phase_degrees": self.aci_phase_degrees,
        }
        for kind, count in zip(AUX_KINDS, self.aux.counts(), strict=True):
            result[f"aux_{kind}_count"] = count
        result["bms_count"] = len(self.bms)
        result["smb_count"] = len(self.smb)
        for kind in AUX_KINDS:
            values = getattr(self.aux, kind)
            result[f"aux_{kind}"] = [entry.value for entry in values]
            result[f"aux_{kind}_dt"] = [entry.dt for entry in values]
        return result
