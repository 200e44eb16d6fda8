"""The dictionary keys pycti-arbin 0.0.13 produced, in its order, copied from its message
templates (pyctiarbin/messages.py of the 0.0.13 wheel)."""

from __future__ import annotations

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

_AUX_KINDS = [
    "voltage",
    "temperature",
    "pressure",
    "external",
    "flow",
    "ao",
    "di",
    "do",
    "humidity",
    "safety",
    "ph",
    "density",
]

CHANNEL_STATUS_KEYS = [
    *_HEADER,
    "number_of_channels",
    "channel",
    "status",
    "comm_failure",
    "schedule",
    "testname",
    "exit_condition",
    "step_and_cycle_format",
    "barcode",
    "can_config_name",
    "smb_config_name",
    "master_channel",
    "test_time_s",
    "step_time_s",
    "voltage_v",
    "current_a",
    "power_w",
    "charge_capacity_ah",
    "discharge_capacity_ah",
    "charge_energy_wh",
    "discharge_energy_wh",
    "internal_resistance_ohm",
    "dvdt_vbys",
    "acr_ohm",
    "aci_ohm",
    "aci_phase_degrees",
    *[f"aux_{kind}_count" for kind in _AUX_KINDS],
    "bms_count",
    "smb_count",
]
# The aux readings parser added two lists per aux kind after the template's keys.
CHANNEL_STATUS_KEYS += [name for kind in _AUX_KINDS for name in (f"aux_{kind}", f"aux_{kind}_dt")]

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
