"""Alerts on live cycler readings: rules, episodes, notifiers (docs/alerts.md).

::

    from pyctiarbin.alerts import load_alert_config

    config = load_alert_config("rules.toml")
    with config.engine() as engine:          # or AlertEngine(rules, notifiers)
        engine.on_readings("bay1", client.read_channels(aux=True), time.time())

The engine runs inside the data logger as one of its listeners (:class:`AlertListener`,
sharing the logger's readings), or standalone with :func:`run_alerts` (a logger that stores
nothing: ``pycti alerts --rules rules.toml``).
"""

from __future__ import annotations

from .config import AlertConfig, load_alert_config, parse_alert_config
from .engine import AlertEngine, DeliveryStats
from .events import AlertEvent, EventKind, Severity
from .listener import AlertListener, run_alerts
from .notifiers import (
    AsyncClientStopper,
    ChannelStopper,
    DeliveryError,
    EmailNotifier,
    LogNotifier,
    Notifier,
    StopChannelAction,
    WebhookNotifier,
    format_payload,
)
from .rules import (
    CommFailureRule,
    FieldRef,
    Rule,
    RuleError,
    StaleDataRule,
    StatusRule,
    ThresholdRule,
    UnreachableRule,
    parse_channels,
    parse_status,
    rule_from_mapping,
)

__all__ = [
    "AlertConfig",
    "AlertEngine",
    "AlertEvent",
    "AlertListener",
    "AsyncClientStopper",
    "ChannelStopper",
    "CommFailureRule",
    "DeliveryError",
    "DeliveryStats",
    "EmailNotifier",
    "EventKind",
    "FieldRef",
    "LogNotifier",
    "Notifier",
    "Rule",
    "RuleError",
    "Severity",
    "StaleDataRule",
    "StatusRule",
    "StopChannelAction",
    "ThresholdRule",
    "UnreachableRule",
    "WebhookNotifier",
    "format_payload",
    "load_alert_config",
    "parse_alert_config",
    "parse_channels",
    "parse_status",
    "rule_from_mapping",
    "run_alerts",
]
