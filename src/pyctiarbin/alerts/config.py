"""The alert rules file (TOML): notifiers, defaults and rules. Format: docs/alerts.md.

::

    [defaults]
    notify = ["log", "lab-chat"]      # notifiers of rules that name none (default: ["log"])
    interval_s = 1.0                  # poll interval when `pycti alerts` polls on its own

    [notifiers.lab-chat]
    type = "webhook"
    url_env = "PYCTI_ALERT_WEBHOOK"   # or url = "https://..."
    format = "slack"                  # json (default), slack or teams

    [notifiers.oncall]
    type = "email"
    host = "smtp.example.org"
    from = "cycler-alerts@example.org"
    to = ["oncall@example.org"]
    # login from PYCTI_SMTP_USERNAME / PYCTI_SMTP_PASSWORD (names configurable)

    [[rules]]
    name = "cell too hot"
    kind = "threshold"
    field = "aux.temperature"
    op = ">"
    value = 45.0
    for_s = 10
    clear = 43.0
    severity = "critical"
    notify = ["log", "lab-chat", "oncall"]
    action = "stop"
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import read_toml
from .engine import AlertEngine
from .notifiers import ChannelStopper, EmailNotifier, Notifier, WebhookNotifier
from .rules import Rule, RuleError, rule_from_mapping

__all__ = [
    "DEFAULT_SMTP_PASSWORD_ENV",
    "DEFAULT_SMTP_USERNAME_ENV",
    "AlertConfig",
    "load_alert_config",
    "parse_alert_config",
]

DEFAULT_SMTP_USERNAME_ENV = "PYCTI_SMTP_USERNAME"
DEFAULT_SMTP_PASSWORD_ENV = "PYCTI_SMTP_PASSWORD"

_TOP_KEYS = {"defaults", "notifiers", "rules"}
_DEFAULT_KEYS = {"notify", "interval_s"}
_WEBHOOK_KEYS = {"type", "url", "url_env", "format", "timeout_s", "retries", "backoff_s", "headers"}
_EMAIL_KEYS = {
    "type",
    "host",
    "port",
    "security",
    "from",
    "to",
    "username",
    "username_env",
    "password_env",
    "timeout_s",
    "retries",
    "backoff_s",
    "subject_prefix",
}


@dataclass(frozen=True)
class AlertConfig:
    """A loaded rules file: ``rules``, ``notifiers`` (built, not yet used), the notifiers of
    rules that name none (``default_notify``) and the standalone poll interval."""

    rules: tuple[Rule, ...]
    notifiers: tuple[Notifier, ...] = ()
    default_notify: tuple[str, ...] = ("log",)
    interval_s: float = 1.0
    path: Path | None = None
    #: Secret-holding environment variables that were not set, as "VARIABLE ([notifiers.X] key)":
    #: only ever non-empty for a file loaded with ``secrets=False`` (a check, not a run).
    unset_env: tuple[str, ...] = ()

    @property
    def needs_aux(self) -> bool:
        """True when some rule watches aux, BMS or SMB data (reads must ask for it)."""
        from .rules import ThresholdRule

        return any(isinstance(rule, ThresholdRule) and rule.field.needs_aux for rule in self.rules)

    def engine(self, *, stopper: ChannelStopper | None = None) -> AlertEngine:
        """A new :class:`AlertEngine` with these rules and notifiers."""
        return AlertEngine(
            self.rules, self.notifiers, default_notify=self.default_notify, stopper=stopper
        )


def load_alert_config(
    path: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    secrets: bool = True,
) -> AlertConfig:
    """Read a rules file.

    ``environ`` (default ``os.environ``) is where ``url_env``, ``username_env`` and
    ``password_env`` are looked up. With ``secrets=False`` (checking a file, not running it)
    those variables need not be set: the notifiers are checked without them, and the config's
    ``unset_env`` names the ones that are missing. Such a config must not be run.

    Raises:
        RuleError: (a ValueError) if the file is missing, not TOML, or has an unknown key, an
            invalid rule or notifier, a rule naming an unknown notifier, or a missing
            environment variable; the message names the file and the entry.
    """
    config_path = Path(path).expanduser()
    data = read_toml(config_path, "rules", RuleError)
    try:
        return parse_alert_config(data, environ=environ, path=config_path, secrets=secrets)
    except RuleError as exc:
        raise RuleError(f"{config_path}: {exc}") from None


def parse_alert_config(
    data: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    path: Path | None = None,
    secrets: bool = True,
) -> AlertConfig:
    """Build an :class:`AlertConfig` from the parsed TOML ``data``. Raises RuleError.

    ``secrets=False``: see :func:`load_alert_config`.
    """
    env = os.environ if environ is None else environ
    unset: list[str] | None = None if secrets else []
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise RuleError(
            f"unknown top-level key(s) {', '.join(sorted(unknown))}; "
            "expected [defaults], [notifiers.NAME] and [[rules]]"
        )
    defaults = _table(data.get("defaults", {}), "[defaults]")
    unknown = set(defaults) - _DEFAULT_KEYS
    if unknown:
        raise RuleError(f"[defaults]: unknown key(s) {', '.join(sorted(unknown))}")
    default_notify: tuple[str, ...] = ("log",)
    if "notify" in defaults:
        value = defaults["notify"]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RuleError("[defaults] notify must be a list of notifier names")
        default_notify = tuple(value)
    interval_s = defaults.get("interval_s", 1.0)
    if not _number(interval_s) or not math.isfinite(interval_s) or interval_s <= 0:
        raise RuleError("[defaults] interval_s must be a positive number of seconds")

    notifiers: list[Notifier] = []
    for name, table in _table(data.get("notifiers", {}), "[notifiers]").items():
        if name == "log":
            raise RuleError("[notifiers.log]: 'log' is built in and cannot be redefined")
        notifiers.append(_notifier(name, _table(table, f"[notifiers.{name}]"), env, unset))

    rules_data = data.get("rules", [])
    if not isinstance(rules_data, list) or not all(isinstance(r, dict) for r in rules_data):
        raise RuleError("rules must be an array of tables: [[rules]]")
    if not rules_data:
        raise RuleError("the file defines no rule ([[rules]])")
    rules = tuple(rule_from_mapping(table) for table in rules_data)
    config = AlertConfig(
        rules, tuple(notifiers), default_notify, float(interval_s), path, tuple(unset or ())
    )
    try:
        # Checks notifier names and unique rule names; the engine starts no thread until used.
        config.engine().close()
    except ValueError as exc:
        raise RuleError(str(exc)) from None
    return config


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RuleError(f"{where} must be a table")
    return value


@dataclass(frozen=True)
class _NotifierTable:
    """One ``[notifiers.NAME]`` table being read, and where its secrets come from."""

    name: str
    table: dict[str, Any]
    env: Mapping[str, str]
    # None: every secret must be set (running); a list collects the unset ones (checking).
    unset: list[str] | None
    options: dict[str, Any]

    @property
    def where(self) -> str:
        return f"[notifiers.{self.name}]"

    def unset_secret(self, variable: str, key: str, refusal: str) -> None:
        """Note that ``variable`` (named by ``key``) is not set; raise RuleError(``refusal``)
        when running."""
        if self.unset is None:
            raise RuleError(f"{self.where}: {refusal}")
        self.unset.append(f"{variable} ({self.where} {key})")

    def secret(self, key: str) -> str | None:
        """The value of the environment variable ``table[key]`` names; None if it is unset
        while checking."""
        variable = self.table[key]
        if not isinstance(variable, str) or not variable:
            raise RuleError(f"{self.where}: {key} must name an environment variable")
        value = self.env.get(variable)
        if not value:
            self.unset_secret(variable, key, f"environment variable {variable} ({key}) is not set")
        return value or None


def _notifier(
    name: str, table: dict[str, Any], env: Mapping[str, str], unset: list[str] | None
) -> Notifier:
    where = f"[notifiers.{name}]"
    kind = table.get("type")
    keys = {"webhook": _WEBHOOK_KEYS, "email": _EMAIL_KEYS}.get(str(kind))
    if keys is None:
        raise RuleError(f"{where}: type must be 'webhook' or 'email'")
    unknown = set(table) - keys
    if unknown:
        extra = " (put secrets in the environment: password_env)" if "password" in unknown else ""
        raise RuleError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}{extra}")
    options: dict[str, Any] = {}
    for key in ("timeout_s", "retries", "backoff_s"):
        if key in table:
            if not _number(table[key]):
                raise RuleError(f"{where}: {key} must be a number")
            options[key] = table[key]
    entry = _NotifierTable(name, table, env, unset, options)
    try:
        return _webhook(entry) if kind == "webhook" else _email(entry)
    except ValueError as exc:
        if isinstance(exc, RuleError):
            raise
        raise RuleError(f"{where}: {exc}") from None


def _webhook(entry: _NotifierTable) -> WebhookNotifier:
    table, where = entry.table, entry.where
    if ("url" in table) == ("url_env" in table):
        raise RuleError(f"{where}: give exactly one of url and url_env")
    # Checking without the secret: a stand-in that no delivery can reach (.invalid).
    url = table["url"] if "url" in table else entry.secret("url_env") or "https://unset.invalid/"
    if not isinstance(url, str):
        raise RuleError(f"{where}: url must be a string")
    headers = table.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise RuleError(f"{where}: headers must be a table of strings")
    fmt = table.get("format", "json")
    if not isinstance(fmt, str):
        raise RuleError(f"{where}: format must be a string")
    return WebhookNotifier(entry.name, url, format=fmt, headers=headers, **entry.options)


def _email(entry: _NotifierTable) -> EmailNotifier:
    table, where, env = entry.table, entry.where, entry.env
    for key in ("host", "from", "to"):
        if key not in table:
            raise RuleError(f"{where}: an email notifier needs {key!r}")
    recipients = table["to"]
    if isinstance(recipients, str):
        recipients = [recipients]
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        raise RuleError(f"{where}: to must be an address or a list of addresses")
    port = table.get("port")
    if port is not None and (not isinstance(port, int) or isinstance(port, bool)):
        raise RuleError(f"{where}: port must be an integer")
    username: str | None = table.get("username")
    if username is None:
        username = env.get(str(table.get("username_env", DEFAULT_SMTP_USERNAME_ENV))) or None
    password: str | None = None
    if username:
        password_env = str(table.get("password_env", DEFAULT_SMTP_PASSWORD_ENV))
        password = env.get(password_env)
        if password is None:
            entry.unset_secret(
                password_env,
                "password_env",
                f"SMTP user {username!r} needs a password in the environment variable "
                f"{password_env}",
            )
    elif "password_env" in table:
        raise RuleError(f"{where}: password_env is set but no SMTP user name is given")
    return EmailNotifier(
        entry.name,
        str(table["host"]),
        sender=str(table["from"]),
        recipients=recipients,
        port=port,
        security=str(table.get("security", "starttls")),
        username=username,
        password=password,
        subject_prefix=str(table.get("subject_prefix", "[pycti]")),
        **entry.options,
    )
