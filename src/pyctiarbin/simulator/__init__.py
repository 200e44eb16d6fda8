"""The cycler simulator: asyncio CTI server, channel state machine, cell model and schedules.

``Simulator`` serves CTI on TCP like MITS Pro does, backed by a cell model per channel that runs
MITS schedule files (``*.sdx``, ``*.sdu``: the shipped ones, and users' own in ``<root>/Work``;
see :mod:`.schedule`; :mod:`.dryrun` runs one offline). ``run`` and
``python -m pyctiarbin.simulator`` run it as a program. Importing this package starts nothing.

What a client sees (channel indexes 0-based on the wire; result codes as documented):

===================  ==========================================================================
LOGIN                1 ok, 2 wrong user/password, 3 already logged in on this connection.
                     Before it, only LOGIN and CONNECT are served (others get their failure).
CONNECT              kick-out flag 1 = "may be kicked out"; beyond ``max_sessions`` the oldest
                     such session is closed (0), or the request is rejected (1) and closed.
GET_CHANNELS_INFO    -1 = all channels, selection 1 all / 2 running / 3 unsafe; aux (voltage,
                     temperature), BMS and SMB parts when asked; a missing channel gives no
                     record; ``answer_all`` answers one-channel requests with every channel.
ASSIGN               0x10 no channel, 0x11 may not control, 0x12 empty name, 0x13 not found,
                     0x14 running or paused, 0x17 schedule file invalid. Assign-all: one
                     feedback per channel.
START / START_EX     0x10, 0x11, 0x12 running/paused/unsafe, 0x15 no schedule, 0x23 empty test
                     name, 0x19 bad start step (START_EX ``select_step``, 0-based), 0x14
                     START_EX schedule unusable, 0x1F empty channel list. One feedback per
                     channel.
CONTINUE             0x10, 0x11, 0x12 running, 0x15 not paused, 0x16 unsafe (per channel).
RESUME / RESUME_EX   0x10, 0x11, 0x12 running or unsafe, 0x15 no schedule, 0x23 nothing to
                     resume (RESUME_EX then starts the schedule at its step). Resume-all: per
                     channel.
STOP                 0x10 no channel, 0x11; stopping an idle channel succeeds. Stop-all: per
                     channel.
JUMP                 step 0-based (protocol v1.1); 0x10, 0x11, 0x12 not running, 0x19 negative
                     step; a step past the last stops the test.
SET_MV               0x10 no channel / bad MV type or value type, 0x11 unknown meta code,
                     0x12 channel not running (paused counts as running).
UPDATE_MV_ADVANCED   all entries checked, then all applied; one feedback (the first failing
                     entry's channel): 0x10, 0x11, 0x12, 0x13 same channel updated again
                     within ``mv_min_interval_s`` (200 ms).
Files (file port)    see :mod:`.files`: paths confined to the root; users' schedules in
                     ``<root>/Work``.
SEND_MESSAGE         logged and kept in ``Simulator.received_messages``; 1 ok, 2 empty text.
AUTOCALI_START       1 when no channel is running, else 2.
GET_SERIAL           the digits of ``serial_number`` (``SIM09031`` -> 9031), result 0.
===================  ==========================================================================
"""

from __future__ import annotations

from .config import Faults, SimulatorConfig, parse_users, resolve_users
from .cycler import ChannelSnapshot, Cycler
from .lifecycle import Simulator
from .listener import PortBindError
from .runner import build_arg_parser, config_from_args, config_from_options, main, run

__all__ = [
    "ChannelSnapshot",
    "Cycler",
    "Faults",
    "PortBindError",
    "Simulator",
    "SimulatorConfig",
    "build_arg_parser",
    "config_from_args",
    "config_from_options",
    "main",
    "parse_users",
    "resolve_users",
    "run",
]
