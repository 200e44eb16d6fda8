"""The dictionary keys pycti-arbin 0.0.13 produced, in its order, copied from its message
templates (pyctiarbin/messages.py of the 0.0.13 wheel)."""

from __future__ import annotations

from pyctiarbin.interfaces import seed_dicts

_HEADER = ["header", "msg_length", "command_code", "extended_command_code"]

LOGIN_FEEDBACK_KEYS = [
    *_HEADER,
    "result",
    "ip_address",
    "cycler_sn",
    "note",
    "nick_name",
    "location",
    "emergency_contact",
    "other_comments",
    "email",
    "call",
    "itac",
    "version",
    "allow_control",
    "num_channels",
    "user_type",
    "picture_length",
]

# The channel dictionary's keys have one home, next to the code that builds the dictionary;
# test_cycler_interface.py pins the facts of 0.0.13's layout they must keep.
CHANNEL_STATUS_KEYS = list(seed_dicts.CHANNEL_STATUS_KEYS)

CYCLER_CONFIG_DEFAULTS = {"timeout_s": 3.0, "msg_buffer_size": 4096}
CHANNEL_CONFIG_KEYS = {
    "channel",
    "test_name",
    "schedule_name",
    "ip_address",
    "port",
    "timeout_s",
    "msg_buffer_size",
}
