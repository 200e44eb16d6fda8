"""The API of pycti-arbin 0.0.13 (the seed project), kept drop-in compatible.

``CyclerInterface`` and ``ChannelInterface`` take the same configuration dictionaries and
``.env`` file, have the same methods, return the same values and dictionaries, and address
the same channels on the wire as in 0.0.13; they run on :class:`~pyctiarbin.CyclerClient`.
New code should use :class:`~pyctiarbin.CyclerClient` directly (exceptions instead of
``{}``/``False``); see ``docs/migrating.md``.
"""

from __future__ import annotations

from .channel_interface import ChannelInterface
from .config import ChannelInterfaceConfig, CyclerInterfaceConfig
from .cycler_interface import ConnectFailed, CyclerInterface, LoginFailed, login_feedback_dict
from .seed_dicts import CHANNEL_STATUS_KEYS, channel_status_dict

__all__ = [
    "CHANNEL_STATUS_KEYS",
    "ChannelInterface",
    "ChannelInterfaceConfig",
    "ConnectFailed",
    "CyclerInterface",
    "CyclerInterfaceConfig",
    "LoginFailed",
    "channel_status_dict",
    "login_feedback_dict",
]
