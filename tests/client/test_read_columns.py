"""read_channels_columns: a whole-cycler read as columns, the same values read_channels gives."""

from __future__ import annotations

from pyctiarbin.client.status import ChannelStatus
from pyctiarbin.protocol import CHANNEL_FIELDS, AuxOptions, ChannelSelection, ChannelTable
from pyctiarbin.simulator import Simulator

from .conftest import Api, run_both


def same_values(table: ChannelTable, statuses: list[ChannelStatus]) -> None:
    assert len(table) == len(statuses)
    for name in CHANNEL_FIELDS:
        assert table[name] == tuple(getattr(status, name) for status in statuses), name
    assert table["channel"] == tuple(status.channel for status in statuses)
    assert table.records(ChannelStatus) == statuses


def test_columns_and_statuses_agree(kind: str, checksum_backend: str) -> None:
    async def body(api: Api) -> None:
        # Idle channels: two reads in a row see the same readings.
        statuses = await api("read_channels")
        table = await api("read_channels_columns")
        assert isinstance(table, ChannelTable)
        assert table["channel"] == tuple(range(1, 41))
        same_values(table, statuses)
        # A scan's statuses equal one-channel reads, every field.
        fresh = await api("read_channels")
        for channel in (40, 1, 7):
            assert fresh[channel - 1] == await api("read_channel", channel)
        some = await api("read_channels_columns", [33, 2, 7])
        assert some["channel"] == (2, 7, 33)
        same_values(some, await api("read_channels", [2, 7, 33]))
        running = await api("read_channels_columns", selection=ChannelSelection.RUNNING)
        assert len(running) == 0
        # Aux readings alone (the same aux channels on every channel): read as columns.
        aux_only = await api("read_channels_columns", aux=AuxOptions.AUX)
        same_values(aux_only, await api("read_channels", aux=AuxOptions.AUX))
        assert all(aux.temperature for aux in aux_only["aux"])
        assert aux_only["bms"] == ((),) * 40
        # aux, BMS and SMB parts: read record by record, the same values either way.
        full = await api("read_channels_columns", aux=AuxOptions.ALL)
        same_values(full, await api("read_channels", aux=AuxOptions.ALL))
        assert all(len(aux.temperature) >= 1 for aux in full["aux"])
        assert all(len(bms) == 3 for bms in full["bms"])
        assert full["smb"][3][2].value == "SIM-0004"

    with Simulator(channels=40, users={"op": "pw"}) as sim:
        run_both(kind, sim, body, username="op", password="pw")
