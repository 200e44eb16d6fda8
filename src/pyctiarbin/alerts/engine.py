"""The alert engine: rules applied to readings, episodes tracked, events handed to notifiers.

Feed it readings from any source: ``on_readings(cycler, statuses, host_time)`` for a
successful read of a cycler, ``on_error(cycler, error, host_time)`` for a failed one. It is a
listener of the data logger (:class:`~.listener.AlertListener`: sharing its readings, no
second polling loop), also when it runs on its own (:func:`~.listener.run_alerts`).

Evaluation is quick and does no I/O, so it may be called from an event loop. Events are
delivered by one worker thread per notifier (a slow webhook never delays the log or e-mail,
and events reach each notifier in order: a 'resolved' never overtakes its 'fired'). A delivery
that fails is retried as the notifier asks, then logged and counted; it never reaches the
caller.

An episode, per (rule, cycler, channel)::

    idle --condition--> pending --held for_s--> ACTIVE (fired) --clear--> clearing
      ^                    |                      ^                          |
      +----not condition---+                      +------not clear-----------+
      +------------------------held clear_for_s: RESOLVED------------------------+
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from ..client.status import ChannelStatus
from ..shared import Backoff, ClosedOnExit
from .events import AlertEvent, EventKind, format_duration
from .notifiers import ChannelStopper, DeliveryError, LogNotifier, Notifier, StopChannelAction
from .rules import Observation, Rule, RuleMemory, UnreachableRule

__all__ = ["AlertEngine", "DeliveryStats"]

log = logging.getLogger("pyctiarbin.alerts")

_IDLE, _PENDING, _ACTIVE, _CLEARING = range(4)


class _Episode:
    """The state of one (rule, cycler, channel)."""

    __slots__ = ("fired_at", "memory", "since", "state")

    def __init__(self) -> None:
        self.state = _IDLE
        self.since = 0.0
        self.fired_at = 0.0
        self.memory = RuleMemory()

    def step(self, seen: Observation, now: float, hold_s: float, clear_hold_s: float) -> int | None:
        """Advance with one observation; returns _ACTIVE when the alert fires, _IDLE when it
        resolves, None otherwise."""
        if self.state == _IDLE and seen.triggered:
            self.state, self.since = _PENDING, now
        elif self.state == _PENDING and not seen.triggered:
            self.state = _IDLE
        elif self.state == _ACTIVE and seen.cleared:
            self.state, self.since = _CLEARING, now
        elif self.state == _CLEARING and not seen.cleared:
            self.state = _ACTIVE
        if self.state == _PENDING and now - self.since >= hold_s:
            self.state, self.fired_at = _ACTIVE, now
            return _ACTIVE
        if self.state == _CLEARING and now - self.since >= clear_hold_s:
            self.state = _IDLE
            return _IDLE
        return None


@dataclass
class DeliveryStats:
    """Counters of one notifier: events ``delivered``, ``failed`` for good, ``dropped``
    (still queued when the engine closed), and delivery ``attempts``."""

    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    attempts: int = 0


class _Worker:
    """One notifier's thread: delivers queued events in order, with retries."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.stats = DeliveryStats()
        self._queue: queue.SimpleQueue[AlertEvent | None] = queue.SimpleQueue()
        self._abandon = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"pycti-alerts-{notifier.name}", daemon=True
        )
        self._thread.start()

    def submit(self, event: AlertEvent) -> None:
        self._queue.put(event)

    def close(self, deadline: float) -> None:
        """Deliver what is queued until ``deadline`` (monotonic), then drop the rest."""
        self._queue.put(None)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self._abandon.set()
            # An HTTP or SMTP call under way ends by its own timeout.
            self._thread.join(getattr(self.notifier, "timeout_s", 10.0) + 1.0)
        if self._thread.is_alive():
            log.error("notifier %s did not stop; its thread is left behind", self.notifier.name)

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            if self._abandon.is_set():
                self.stats.dropped += 1
                continue
            self._deliver(event)

    def _deliver(self, event: AlertEvent) -> None:
        notifier = self.notifier
        attempts = 1 + max(0, notifier.retries)
        backoff = Backoff(notifier.backoff_s)
        what = f"alert {event.rule!r} ({event.kind.value})"
        for attempt in range(1, attempts + 1):
            delay = backoff.delay(attempt)
            self.stats.attempts += 1
            try:
                notifier.send(event)
            except DeliveryError as exc:
                last_try = attempt == attempts or exc.permanent or self._abandon.is_set()
                if last_try:
                    self.stats.failed += 1
                    message = "%s not delivered by %s after %d attempt(s): %s"
                    log.error(message, what, notifier.name, attempt, exc)
                    return
                log.warning(
                    "alert %r: %s failed (attempt %d of %d): %s; retrying in %.3g s",
                    event.rule,
                    notifier.name,
                    attempt,
                    attempts,
                    exc,
                    delay,
                )
            except Exception:
                # A notifier bug must not kill the thread (nor the engine): report it in full.
                self.stats.failed += 1
                log.exception("%s: notifier %s raised unexpectedly", what, notifier.name)
                return
            else:
                self.stats.delivered += 1
                return
            if self._abandon.wait(delay):
                self.stats.dropped += 1
                return


class AlertEngine(ClosedOnExit):
    """Applies ``rules`` to readings and delivers the events to notifiers.

    ``notifiers``: the notifiers rules may name (a :class:`LogNotifier` called ``"log"`` is
    always there). ``default_notify``: the notifiers of a rule that names none. ``stopper``:
    how to stop a channel for rules with ``action = "stop"`` (see :meth:`set_stopper`).

    Thread-safe; :meth:`on_readings` and :meth:`on_error` return the events they produced (the
    same ones that go to the notifiers). Close the engine (or use it as a context manager) to
    deliver what is queued and stop the worker threads.

    Raises:
        ValueError: from the constructor when a rule names an unknown notifier, or two rules
            share a name.
    """

    def __init__(
        self,
        rules: Sequence[Rule],
        notifiers: Iterable[Notifier] = (),
        *,
        default_notify: Sequence[str] = ("log",),
        stopper: ChannelStopper | None = None,
    ) -> None:
        self.rules = tuple(rules)
        by_name: dict[str, Notifier] = {"log": LogNotifier()}
        for notifier in notifiers:
            by_name[notifier.name] = notifier
        names = [rule.name for rule in self.rules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique: {', '.join(duplicates)}")
        self._routes: dict[str, tuple[str, ...]] = {}
        for rule in self.rules:
            route = rule.notify if rule.notify is not None else tuple(default_notify)
            unknown = [name for name in route if name not in by_name]
            if unknown:
                raise ValueError(
                    f"rule {rule.name!r} names unknown notifier(s) {', '.join(unknown)}; "
                    f"known: {', '.join(sorted(by_name))}"
                )
            self._routes[rule.name] = route
        used = {name for route in self._routes.values() for name in route}
        self._notifiers = {name: n for name, n in by_name.items() if name in used}
        self._rules_by_name = {rule.name: rule for rule in self.rules}
        self._channel_rules = [rule for rule in self.rules if not rule.cycler_wide]
        self._cycler_rules = [rule for rule in self.rules if isinstance(rule, UnreachableRule)]
        self._episodes: dict[tuple[str, str, int | None], _Episode] = {}
        self._active: dict[tuple[str, str, int | None], AlertEvent] = {}
        self._lock = threading.Lock()
        self._workers: dict[str, _Worker] = {}
        self._stopper = stopper
        self._closed = False

    # -- feeding ---------------------------------------------------------------------------

    def on_readings(
        self, cycler: str, statuses: Sequence[ChannelStatus], host_time: float | None = None
    ) -> list[AlertEvent]:
        """One successful read of ``cycler``: apply every channel rule to every channel in
        scope, and resolve an 'unreachable' episode. ``host_time``: Unix seconds of the read
        (default: now). Returns the events produced. Raises RuntimeError once closed."""
        with self._feeding(host_time) as (now, events):
            self._feed_cycler_rules(cycler, None, now, events)
            for status in statuses:
                channel = status.channel
                for rule in self._channel_rules:
                    if not rule.applies_to(cycler, channel):
                        continue
                    episode = self._episode(rule, cycler, channel)
                    observed = rule.observe(status, episode.memory)
                    if observed is not None:
                        self._advance(rule, cycler, channel, episode, observed, now, events)
        return events

    def on_error(
        self, cycler: str, error: BaseException, host_time: float | None = None
    ) -> list[AlertEvent]:
        """One failed read of ``cycler`` (refused, timed out, lost): feeds 'unreachable'
        rules. Returns the events produced. Raises RuntimeError once closed."""
        with self._feeding(host_time) as (now, events):
            self._feed_cycler_rules(cycler, error, now, events)
        return events

    @contextlib.contextmanager
    def _feeding(self, host_time: float | None) -> Iterator[tuple[float, list[AlertEvent]]]:
        # The time of a read and the list for its events, under the lock; the events are
        # dispatched once the block ends, outside the lock.
        now = time.time() if host_time is None else host_time
        events: list[AlertEvent] = []
        with self._lock:
            self._check_open()
            yield now, events
        self._dispatch(events)

    def _feed_cycler_rules(
        self, cycler: str, error: BaseException | None, now: float, events: list[AlertEvent]
    ) -> None:
        # A read of the whole cycler: a success when error is None.
        for rule in self._cycler_rules:
            if rule.applies_to(cycler, None):
                episode = self._episode(rule, cycler, None)
                seen = (
                    rule.observe_success(episode.memory)
                    if error is None
                    else rule.observe_failure(error, episode.memory)
                )
                self._advance(rule, cycler, None, episode, seen, now, events)

    # -- state -----------------------------------------------------------------------------

    @property
    def active(self) -> list[AlertEvent]:
        """The FIRED events of the episodes still active, oldest first."""
        with self._lock:
            return sorted(self._active.values(), key=lambda event: event.time)

    @property
    def stats(self) -> dict[str, DeliveryStats]:
        """Delivery counters per notifier (only notifiers that were used appear)."""
        return {name: worker.stats for name, worker in self._workers.items()}

    def set_stopper(self, stopper: ChannelStopper | None) -> None:
        """Set (or replace) how channels are stopped for rules with ``action = "stop"``."""
        with self._lock:
            self._stopper = stopper
            worker = self._workers.pop("action:stop", None)
        if worker is not None:
            worker.close(time.monotonic() + 5.0)

    # -- internals -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the alert engine is closed")

    def _episode(self, rule: Rule, cycler: str, channel: int | None) -> _Episode:
        key = (rule.name, cycler, channel)
        episode = self._episodes.get(key)
        if episode is None:
            episode = self._episodes[key] = _Episode()
        return episode

    def _advance(
        self,
        rule: Rule,
        cycler: str,
        channel: int | None,
        episode: _Episode,
        seen: Observation,
        now: float,
        events: list[AlertEvent],
    ) -> None:
        change = episode.step(seen, now, rule.for_s, rule.clear_for_s)
        if change is None:
            return
        key = (rule.name, cycler, channel)
        where = cycler if channel is None else f"{cycler} ch {channel}"
        if change == _ACTIVE:
            held = f" for {format_duration(now - episode.since)}" if rule.for_s > 0 else ""
            event = AlertEvent(
                EventKind.FIRED,
                rule.name,
                rule.severity,
                cycler,
                channel,
                now,
                now,
                seen.value,
                f"[{rule.severity.value.upper()}] {rule.name}: {where}: {seen.detail}{held}",
            )
            self._active[key] = event
        else:
            self._active.pop(key, None)
            event = AlertEvent(
                EventKind.RESOLVED,
                rule.name,
                rule.severity,
                cycler,
                channel,
                now,
                episode.fired_at,
                seen.value,
                f"[RESOLVED] {rule.name}: {where}: {seen.detail} "
                f"(active for {format_duration(now - episode.fired_at)})",
            )
        events.append(event)

    def _dispatch(self, events: list[AlertEvent]) -> None:
        for event in events:
            for name in self._routes[event.rule]:
                self._worker(name, self._notifiers[name]).submit(event)
            rule = self._rules_by_name[event.rule]
            if rule.action == "stop" and event.kind is EventKind.FIRED:
                stopper = self._stopper
                if stopper is None:
                    log.error(
                        "alert %r wants to stop %s but no stopper is configured",
                        event.rule,
                        event.where,
                    )
                else:
                    self._worker("action:stop", StopChannelAction(stopper)).submit(event)

    def _worker(self, name: str, notifier: Notifier) -> _Worker:
        with self._lock:
            worker = self._workers.get(name)
            if worker is None:
                worker = self._workers[name] = _Worker(notifier)
            return worker

    # -- shutdown --------------------------------------------------------------------------

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver queued events (for up to ``timeout_s``), then stop the worker threads.
        Events still queued after that are dropped and counted in :attr:`stats`."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._workers.values())
        deadline = time.monotonic() + timeout_s
        for worker in workers:
            worker.close(deadline)
        for worker in workers:
            if worker.stats.dropped:
                log.warning(
                    "%d alert event(s) for %s dropped at shutdown",
                    worker.stats.dropped,
                    worker.notifier.name,
                )

    # python-can style listener name: the logger calls stop() when it shuts down.
    stop = close

    def __repr__(self) -> str:
        return (
            f"<AlertEngine {len(self.rules)} rules, notifiers {sorted(self._notifiers)}, "
            f"{len(self._active)} active>"
        )
