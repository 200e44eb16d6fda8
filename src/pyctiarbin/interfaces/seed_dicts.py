"""The dictionary pycti-arbin 0.0.13 returned for a channel read, built from a ChannelStatus.

Its keys are declared here once (:data:`CHANNEL_STATUS_KEYS`): the seed-compatible interfaces
build their dictionaries with :func:`channel_status_dict`, and the tests read the keys from here.
"""

from __future__ import annotations

from typing import Any

from ..client.status import ChannelStatus
from ..protocol import AUX_KINDS, TOKEN, ChannelRecord, CommandCode
from ..protocol.framing import CHECKSUM, HEADER_SIZE

__all__ = ["CHANNEL_STATUS_KEYS", "HEADER_KEYS", "channel_status_dict"]

#: The keys every 0.0.13 message dictionary starts with.
HEADER_KEYS: tuple[str, ...] = ("header", "msg_length", "command_code", "extended_command_code")

_RECORD_FIELDS = ChannelRecord.LAYOUT.names
# 0.0.13 named the record fields as we do, but for these two.
_SEED_NAME = {"channel_index": "channel", "test_name": "testname"}
_RECORD_KEYS = tuple(_SEED_NAME.get(name, name) for name in _RECORD_FIELDS)

#: The keys of :func:`channel_status_dict`, in 0.0.13's order: its message template's (header,
#: channel count, record fields, aux/BMS/SMB counts), then the two lists per aux kind its aux
#: parser added.
CHANNEL_STATUS_KEYS: tuple[str, ...] = (
    *HEADER_KEYS,
    "number_of_channels",
    *_RECORD_KEYS,
    *(f"aux_{kind}_count" for kind in AUX_KINDS),
    "bms_count",
    "smb_count",
    *(f"aux_{kind}{suffix}" for kind in AUX_KINDS for suffix in ("", "_dt")),
)

# A one-channel GET_CHANNELS_INFO feedback without aux readings: header, channel count, the
# record, 28 bytes of aux/BMS/SMB counts, checksum; each aux reading adds 8 bytes.
_ONE_CHANNEL_SIZE = HEADER_SIZE + 4 + ChannelRecord.LAYOUT.size + 28 + CHECKSUM.size


def channel_status_dict(status: ChannelStatus) -> dict[str, Any]:
    """The channel as the dictionary pycti-arbin 0.0.13 returned for a one-channel read.

    Same keys (:data:`CHANNEL_STATUS_KEYS`) and value conventions: ``channel`` is the 0-based
    wire index, ``status`` the status text (``"Rest"``), aux readings as ``aux_<kind>`` and
    ``aux_<kind>_dt`` lists.
    """
    counts = status.aux.counts()
    result: dict[str, Any] = {
        "header": TOKEN,
        "msg_length": _ONE_CHANNEL_SIZE + 8 * sum(counts),
        "command_code": int(CommandCode.GET_CHANNELS_INFO_FEEDBACK),
        "extended_command_code": 0,
        "number_of_channels": 1,
    }
    for name, key in zip(_RECORD_FIELDS, _RECORD_KEYS, strict=True):
        result[key] = getattr(status, name)
    result["status"] = status.status.label
    for kind, count in zip(AUX_KINDS, counts, strict=True):
        result[f"aux_{kind}_count"] = count
    result["bms_count"] = len(status.bms)
    result["smb_count"] = len(status.smb)
    for kind in AUX_KINDS:
        values = getattr(status.aux, kind)
        result[f"aux_{kind}"] = [entry.value for entry in values]
        result[f"aux_{kind}_dt"] = [entry.dt for entry in values]
    return result
