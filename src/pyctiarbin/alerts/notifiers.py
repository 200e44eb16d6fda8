"""Where alerts go: the log, an HTTP webhook, e-mail; and the one action, stopping a channel.

A notifier is any object with ``name``, ``retries``, ``backoff_s`` and a blocking
``send(event)`` that raises when the event could not be delivered (:class:`DeliveryError`,
with ``permanent=True`` when trying again is pointless). The engine calls ``send`` in a worker
thread of its own per notifier, never in the caller's thread or event loop, retries as the
notifier asks, and logs (never raises) a delivery that failed for good.

Only the standard library is used: ``urllib`` for webhooks, ``smtplib`` for e-mail.
"""

from __future__ import annotations

import asyncio
import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from email.message import EmailMessage
from typing import Any, Protocol, runtime_checkable

from ..client import AsyncCyclerClient
from .events import AlertEvent, EventKind, Severity

__all__ = [
    "AsyncClientStopper",
    "ChannelStopper",
    "DeliveryError",
    "EmailNotifier",
    "LogNotifier",
    "Notifier",
    "StopChannelAction",
    "WebhookNotifier",
    "format_payload",
]

log = logging.getLogger("pyctiarbin.alerts")

WEBHOOK_FORMATS = ("json", "slack", "teams")


class DeliveryError(Exception):
    """An alert could not be delivered. ``permanent``: retrying will not help (e.g. HTTP 404)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@runtime_checkable
class Notifier(Protocol):
    """Anything that can deliver an :class:`AlertEvent` (blocking; raises on failure)."""

    name: str
    retries: int
    backoff_s: float

    def send(self, event: AlertEvent) -> None: ...


_LOG_LEVELS = {
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.CRITICAL: logging.ERROR,
}


class LogNotifier:
    """Writes each event to the ``pyctiarbin.alerts`` logger: fired alerts at the level of
    their severity (info, warning, error for critical), resolved ones at info."""

    def __init__(self, name: str = "log", *, logger: logging.Logger | None = None) -> None:
        self.name = name
        self.retries = 0
        self.backoff_s = 0.0
        self._logger = logger or log

    def __repr__(self) -> str:
        return f"LogNotifier({self.name!r})"

    def send(self, event: AlertEvent) -> None:
        level = _LOG_LEVELS[event.severity] if event.kind is EventKind.FIRED else logging.INFO
        self._logger.log(level, "%s", event.message)


def format_payload(event: AlertEvent, style: str) -> dict[str, Any]:
    """The JSON body a webhook posts for ``event``.

    ``json``: :meth:`AlertEvent.to_dict`. ``slack``: ``{"text": ...}`` (Slack incoming
    webhooks, also Mattermost and Rocket.Chat). ``teams``: a MessageCard (Teams incoming
    webhooks and the Workflows "post to a channel when a webhook request is received" flow).

    Raises:
        ValueError: for an unknown style.
    """
    if style == "json":
        return event.to_dict()
    if style == "slack":
        return {"text": event.message}
    if style == "teams":
        color = {"critical": "D13438", "warning": "FFB900", "info": "0078D4"}
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": event.message,
            "themeColor": "2EB886"
            if event.kind is EventKind.RESOLVED
            else color[event.severity.value],
            "title": f"{event.kind.value.upper()}: {event.rule} ({event.where})",
            "text": event.message,
        }
    raise ValueError(f"unknown webhook format {style!r}; formats: {', '.join(WEBHOOK_FORMATS)}")


class _Delivery:
    """What the notifiers that deliver over the network share: a name, how long one attempt
    may take, and how often a failed one is retried (``backoff_s`` doubling)."""

    def __init__(self, name: str, timeout_s: float, retries: int, backoff_s: float) -> None:
        if not timeout_s > 0 or retries < 0 or backoff_s < 0:
            raise ValueError(
                f"notifier {name!r}: timeout_s must be > 0, retries and backoff_s >= 0"
            )
        self.name = name
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)


class WebhookNotifier(_Delivery):
    """POSTs each event as JSON to ``url`` (``format``: json, slack or teams; see
    :func:`format_payload`).

    A 2xx answer is success. Network errors, timeouts, 408, 429 and 5xx are retried
    (``retries`` more times, ``backoff_s`` doubling); other 4xx answers fail at once. The URL
    may hold a secret (Slack's does): logs and the repr show only its scheme and host.

    Raises:
        ValueError: from the constructor for a URL that is not http(s), an unknown format, or
            a non-positive timeout.
    """

    def __init__(
        self,
        name: str,
        url: str,
        *,
        format: str = "json",
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"notifier {name!r}: url must be an http:// or https:// URL")
        if format not in WEBHOOK_FORMATS:
            raise ValueError(
                f"notifier {name!r}: format must be one of {', '.join(WEBHOOK_FORMATS)}"
            )
        super().__init__(name, timeout_s, retries, backoff_s)
        self.format = format
        self._url = url
        self._where = f"{parsed.scheme}://{parsed.netloc.rpartition('@')[2]}"
        self._headers = {"Content-Type": "application/json", "User-Agent": "pycti-arbin alerts"}
        self._headers.update(headers or {})

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.name!r}, {self._where}, format={self.format!r})"

    def send(self, event: AlertEvent) -> None:
        """POST the event. Raises DeliveryError (``permanent`` for a 4xx other than 408/429)."""
        body = json.dumps(format_payload(event, self.format)).encode("utf-8")
        request = urllib.request.Request(self._url, data=body, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
            raise DeliveryError(
                f"webhook {self.name} ({self._where}) answered HTTP {exc.code}", permanent=permanent
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise DeliveryError(f"webhook {self.name} ({self._where}): {reason}") from None


class EmailNotifier(_Delivery):
    """Sends each event as a plain-text e-mail through an SMTP server (``smtplib``).

    ``security``: ``"starttls"`` (default, port 587), ``"ssl"`` (SMTPS, port 465) or
    ``"none"`` (a local relay). ``username``/``password``: SMTP login, if the server needs one;
    take them from the environment (:meth:`from_settings` reads ``username_env`` /
    ``password_env``). The password never appears in a repr, a log line or an error.

    Raises:
        ValueError: from the constructor for a missing host, sender or recipient, an unknown
            security mode, or a password without a user name.
    """

    def __init__(
        self,
        name: str,
        host: str,
        *,
        sender: str,
        recipients: Sequence[str],
        port: int | None = None,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        retries: int = 2,
        backoff_s: float = 5.0,
        subject_prefix: str = "[pycti]",
    ) -> None:
        if not host:
            raise ValueError(f"notifier {name!r}: host is required")
        if not sender or not recipients or not all(recipients):
            raise ValueError(f"notifier {name!r}: 'from' and at least one 'to' are required")
        if security not in ("starttls", "ssl", "none"):
            raise ValueError(f"notifier {name!r}: security must be starttls, ssl or none")
        if password is not None and not username:
            raise ValueError(f"notifier {name!r}: a password needs a user name")
        super().__init__(name, timeout_s, retries, backoff_s)
        self.host = host
        self.port = (
            port if port is not None else {"ssl": 465, "starttls": 587, "none": 25}[security]
        )
        self.sender = sender
        self.recipients = tuple(recipients)
        self.security = security
        self.username = username
        self._password = password
        self.subject_prefix = subject_prefix

    def __repr__(self) -> str:
        login = f" user={self.username!r}" if self.username else ""
        return f"EmailNotifier({self.name!r}, {self.host}:{self.port}, {self.security}{login})"

    def message_for(self, event: AlertEvent) -> EmailMessage:
        """The e-mail sent for ``event``."""
        message = EmailMessage()
        state = "RESOLVED" if event.kind is EventKind.RESOLVED else event.severity.value.upper()
        message["Subject"] = f"{self.subject_prefix} {state}: {event.rule} on {event.where}"
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        lines = [event.message, ""]
        lines += [f"{key}: {value}" for key, value in event.to_dict().items()]
        message.set_content("\n".join(lines) + "\n")
        return message

    def send(self, event: AlertEvent) -> None:
        """Send the e-mail. Raises DeliveryError (``permanent`` when the login is refused)."""
        message = self.message_for(event)
        where = f"{self.host}:{self.port}"
        try:
            smtp: smtplib.SMTP
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    timeout=self.timeout_s,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
            with smtp:
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self._password or "")
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"e-mail {self.name} ({where}): login refused for user {self.username!r} "
                f"(SMTP {exc.smtp_code})",
                permanent=True,
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(
                f"e-mail {self.name} ({where}): recipients refused: "
                f"{', '.join(sorted(exc.recipients))}",
                permanent=True,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            # str(exc) of these carries the server's answer or the socket error, not the login.
            raise DeliveryError(
                f"e-mail {self.name} ({where}): {type(exc).__name__}: {exc}"
            ) from None


#: Stops one channel of one cycler (blocking); raises on failure.
ChannelStopper = Callable[[str, int], None]


class AsyncClientStopper:
    """A :data:`ChannelStopper` that stops channels through :class:`AsyncCyclerClient` objects
    running on ``loop`` (called from a notifier thread, never from the loop itself)."""

    def __init__(
        self,
        clients: Mapping[str, AsyncCyclerClient],
        loop: asyncio.AbstractEventLoop,
        *,
        timeout_s: float = 15.0,
    ) -> None:
        self._clients = dict(clients)
        self._loop = loop
        self._timeout_s = timeout_s

    def __call__(self, cycler: str, channel: int) -> None:
        """Raises DeliveryError for an unknown cycler or a timeout; the client's CtiError when
        the cycler refuses or cannot be reached."""
        client = self._clients.get(cycler)
        if client is None:
            raise DeliveryError(f"no connection to cycler {cycler!r} to stop", permanent=True)
        future = asyncio.run_coroutine_threadsafe(client.stop(channel), self._loop)
        try:
            future.result(self._timeout_s)
        except FutureTimeout:
            future.cancel()
            raise DeliveryError(
                f"stopping {cycler} ch {channel} took longer than {self._timeout_s} s",
                permanent=True,
            ) from None


class StopChannelAction:
    """The ``action = "stop"`` of a rule: stops the channel whose alert fired.

    Never retried: a stop whose answer was lost may have been carried out.
    """

    def __init__(self, stopper: ChannelStopper, name: str = "stop") -> None:
        self.name = name
        self.retries = 0
        self.backoff_s = 0.0
        self._stopper = stopper

    def __repr__(self) -> str:
        return f"StopChannelAction({self.name!r})"

    def send(self, event: AlertEvent) -> None:
        """Stop ``event``'s channel. Raises whatever the stopper raises."""
        if event.kind is not EventKind.FIRED or event.channel is None:
            return
        self._stopper(event.cycler, event.channel)
        log.warning("alert %r: stopped %s", event.rule, event.where)
