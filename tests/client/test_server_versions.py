"""Each class of server version, simulated, with both clients: the variants Arbin's client
chooses (DLL reference 2.2) are the ones sent, and what a version lacks raises
UnsupportedCommand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyctiarbin import CyclerClient, UnsupportedCommand
from pyctiarbin.client import resume_ex_entry, start_ex_entry
from pyctiarbin.protocol import CommandCode, ResumeData, ServerVersion
from pyctiarbin.simulator import Simulator

from .conftest import PASSWORD, USER, Api, run_both

C = CommandCode

# The variant families: channel data, start, start-ex, resume data, resume-ex.
LEGACY = (C.GET_CHANNELS_INFO, C.START, C.START_EX, C.GET_RESUME_DATA, C.RESUME_EX)
VLS = (C.GET_CHANNELS_INFO_VLS, C.START_VLS, C.START_EX_VLS, C.GET_RESUME_DATA_VLS, C.RESUME_EX_VLS)
BY_MV = (C.GET_CHANNELS_INFO, C.START, C.START_EX, C.GET_RESUME_DATA_BY_MV, C.RESUME_BY_MV)
JSON_BY_MV = (C.GET_CHANNELS_INFO_JSON, *BY_MV[1:])

# version -> (*its variant family, a command it lacks with arguments)
CLASSES = {
    "Pro7": (*LEGACY, ("get_meta_variables", ([1], [1]))),
    "Pro8": (*LEGACY, ("get_barcodes", ([1],))),
    "MitsX_3": (*VLS, ("get_barcodes", ([1],))),
    "MitsX_8": (*VLS, ("set_meta_variables_ex", ({1: {1: 1.0}},))),
    "SPTT": (*JSON_BY_MV, ("aux_mapping", ())),
    "MitsX_1": (*BY_MV, ("get_meta_variables", ([1], [1]))),
    "MitsX_2": (*BY_MV, ("get_barcodes", ([1],))),
}


@pytest.fixture(params=sorted(CLASSES))
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def versioned_sim(version: str) -> Iterator[Simulator]:
    with Simulator(
        channels=4, users={USER: PASSWORD}, speed=60.0, server_version=version
    ) as simulator:
        yield simulator


def test_variants_per_version(kind: str, version: str, versioned_sim: Simulator) -> None:
    sim = versioned_sim
    channels, start, start_ex, resume_data, resume_ex, (lacking, args) = CLASSES[version]

    async def body(api: Api) -> None:
        assert api.client.server_version == ServerVersion.from_name(version)
        assert api.client.login_info.server_version == ServerVersion.from_name(version)
        statuses = await api("read_channels")
        assert [s.channel for s in statuses] == [1, 2, 3, 4]
        assert 2.5 < (await api("read_channel", 3)).voltage_v < 4.3
        await api("assign_schedule", [1, 2], "CCCV_Charge.sdx")
        await api("start", [1, 2], f"versions-{version}")
        running = await api("read_channels", [1, 2])
        assert all(s.status.is_running for s in running)
        assert running[0].test_name == f"versions-{version}"
        await api("set_meta_variables", {1: {"MV_UD2": 2.5}})
        assert sim.channel(1).meta_variables[1] == pytest.approx(2.5)
        await api("stop", 1)
        records = await api("get_resume_data", [1])
        assert records[0].channel_index == 0 and records[0].channel_code == 0
        assert records[0].resume_data.mv_ud[1] == pytest.approx(2.5)
        data = ResumeData(cycle=3, test_time_s=12.5, mv_ud=(0.0,) * 15 + (7.0,))
        await api("resume_ex", [resume_ex_entry(1, "resumed", "CCCV_Charge.sdx", resume_data=data)])
        assert (await api("read_channel", 1)).status.is_running
        await api("stop", [1, 2])
        await api("start_ex", [start_ex_entry(3, "started-ex", "Rest.sdx", step=1)])
        assert (await api("read_channel", 3)).test_name == "started-ex"
        before = len(sim.received_codes)
        with pytest.raises(UnsupportedCommand) as raised:
            await api(lacking, *args)
        assert raised.value.request_code == sim.received_codes[before]
        # The connection stays usable after the refusal.
        assert len(await api("read_channels")) == 4

    run_both(kind, sim, body)
    received = set(sim.received_codes)
    for code in (channels, start, start_ex, resume_data, resume_ex):
        assert code in received, CommandCode(code).name
    assert C.UPDATE_META_VARIABLE_ADVANCED in received
    others = {
        C.GET_CHANNELS_INFO_VLS, C.GET_CHANNELS_INFO_JSON, C.START_VLS, C.START_EX_VLS,
        C.GET_RESUME_DATA_VLS, C.GET_RESUME_DATA_BY_MV, C.RESUME_EX_VLS, C.RESUME_BY_MV,
        C.START, C.START_EX, C.GET_RESUME_DATA, C.RESUME_EX,
    } - {start, start_ex, resume_data, resume_ex, channels}  # fmt: skip
    assert not received & others, [CommandCode(c).name for c in received & others]


def test_override_of_the_reported_version(kind: str) -> None:
    with Simulator(channels=2, users={USER: PASSWORD}, server_version="MitsX_3") as sim:

        async def body(api: Api) -> None:
            assert api.client.reported_server_version == ServerVersion.MITSX_3
            assert api.client.server_version == ServerVersion.PRO8
            assert len(await api("read_channels")) == 2

        run_both(kind, sim, body, server_version="Pro8")
        assert C.GET_CHANNELS_INFO in sim.received_codes
        assert C.GET_CHANNELS_INFO_VLS not in sim.received_codes

    # Told a Pro8 is a VLS server, the client sends what a Pro8 does not know.
    with Simulator(channels=2, users={USER: PASSWORD}) as sim:

        async def wrong(api: Api) -> None:
            with pytest.raises(UnsupportedCommand, match="GET_CHANNELS_INFO_VLS"):
                await api("read_channels")

        run_both(kind, sim, wrong, server_version=ServerVersion.MITSX_3)


def test_server_version_option_is_checked() -> None:
    for bad in ("MitsX_9", 1.5, True):
        with pytest.raises(ValueError, match=r"server.version"):
            CyclerClient("127.0.0.1", username="a", password="b", server_version=bad)  # type: ignore[arg-type]
