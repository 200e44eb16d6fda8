"""Alert rules and episodes, fed with readings built in the test (no cycler needed)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pyctiarbin.alerts import (
    AlertEngine,
    CommFailureRule,
    EventKind,
    FieldRef,
    RuleError,
    Severity,
    StaleDataRule,
    StatusRule,
    ThresholdRule,
    UnreachableRule,
    load_alert_config,
    parse_channels,
    parse_status,
)
from pyctiarbin.client.status import ChannelStatus
from pyctiarbin.errors import CtiConnectionError
from pyctiarbin.protocol import AuxReadings, AuxValue, StatusCode


def reading(
    channel: int = 1,
    *,
    status: StatusCode = StatusCode.CHARGE,
    temps: tuple[float, ...] | None = (25.0,),
    test_time_s: float = 0.0,
    voltage_v: float = 3.7,
    comm_failure: int = 0,
) -> ChannelStatus:
    aux = (
        AuxReadings()
        if temps is None
        else AuxReadings(temperature=tuple(AuxValue(t, 0.0) for t in temps))
    )
    return ChannelStatus(
        channel_index=channel - 1,
        status=status,
        test_time_s=test_time_s,
        voltage_v=voltage_v,
        comm_failure=comm_failure,
        aux=aux,
    )


def hot_rule(**kw: object) -> ThresholdRule:
    options: dict[str, object] = {
        "name": "hot",
        "field": FieldRef.parse("aux.temperature"),
        "op": ">",
        "value": 45.0,
        "for_s": 10.0,
        "clear": 43.0,
    }
    options.update(kw)
    return ThresholdRule(**options)  # type: ignore[arg-type]


def test_threshold_holds_fires_once_and_resolves_once_with_hysteresis() -> None:
    with AlertEngine([hot_rule()], default_notify=()) as engine:
        events = []
        # A brief spike (shorter than for_s) does not fire.
        for t, temp in [(0, 25.0), (1, 47.0), (5, 47.0), (6, 44.0), (7, 25.0)]:
            events += engine.on_readings("A", [reading(temps=(temp,))], float(t))
        assert events == []
        # A sustained excursion, noisy around the threshold: one FIRED.
        for t, temp in [(10, 46.0), (15, 48.0), (20, 46.5), (21, 44.0), (22, 45.5), (30, 44.5)]:
            events += engine.on_readings("A", [reading(temps=(temp,))], float(t))
        assert [e.kind for e in events] == [EventKind.FIRED]
        fired = events[0]
        assert fired.time == 20.0 and fired.channel == 1 and fired.cycler == "A"
        assert fired.value == 46.5
        assert "aux.temperature[1] = 46.5" in fired.message
        assert engine.active == [fired]
        # 44.0 .. 43.5 is inside the hysteresis band: still active.
        events += engine.on_readings("A", [reading(temps=(43.5,))], 31.0)
        assert len(events) == 1
        events += engine.on_readings("A", [reading(temps=(42.0,))], 32.0)
        events += engine.on_readings("A", [reading(temps=(41.0,))], 33.0)
        assert [e.kind for e in events] == [EventKind.FIRED, EventKind.RESOLVED]
        resolved = events[1]
        assert resolved.started_at == 20.0 and resolved.time == 32.0
        assert engine.active == []


def test_threshold_worst_aux_channel_and_scope() -> None:
    rule = hot_rule(for_s=0.0, channels=frozenset({2}), cyclers=frozenset({"A"}))
    with AlertEngine([rule], default_notify=()) as engine:
        assert engine.on_readings("A", [reading(1, temps=(50.0, 20.0))], 0.0) == []
        assert engine.on_readings("B", [reading(2, temps=(50.0, 20.0))], 0.0) == []
        events = engine.on_readings("A", [reading(2, temps=(20.0, 50.0))], 0.0)
        assert len(events) == 1 and "aux.temperature[2] = 50" in events[0].message
        # Without aux data the rule cannot judge: the episode stays active.
        assert engine.on_readings("A", [reading(2, temps=None)], 1.0) == []
        assert len(engine.active) == 1


def test_clear_hold_time() -> None:
    rule = hot_rule(for_s=0.0, clear_for_s=5.0)
    with AlertEngine([rule], default_notify=()) as engine:
        engine.on_readings("A", [reading(temps=(50.0,))], 0.0)
        assert engine.on_readings("A", [reading(temps=(30.0,))], 1.0) == []
        assert engine.on_readings("A", [reading(temps=(50.0,))], 2.0) == []  # back: no new event
        assert engine.on_readings("A", [reading(temps=(30.0,))], 3.0) == []
        events = engine.on_readings("A", [reading(temps=(30.0,))], 8.0)
        assert [e.kind for e in events] == [EventKind.RESOLVED]


def test_status_transition_rule() -> None:
    rule = StatusRule(name="unsafe", to=frozenset({StatusCode.UNSAFE, StatusCode.ERROR}))
    with AlertEngine([rule], default_notify=()) as engine:
        # Already unsafe when first seen: not a transition (include_initial is off).
        assert engine.on_readings("A", [reading(1, status=StatusCode.UNSAFE)], 0.0) == []
        assert engine.on_readings("A", [reading(2, status=StatusCode.CHARGE)], 0.0) == []
        events = engine.on_readings("A", [reading(2, status=StatusCode.UNSAFE)], 1.0)
        assert [(e.kind, e.channel, e.value) for e in events] == [(EventKind.FIRED, 2, "Unsafe")]
        assert "(was Charge)" in events[0].message
        # Unsafe -> Error stays inside the set: the same episode.
        assert engine.on_readings("A", [reading(2, status=StatusCode.ERROR)], 2.0) == []
        events = engine.on_readings("A", [reading(2, status=StatusCode.IDLE)], 3.0)
        assert [e.kind for e in events] == [EventKind.RESOLVED]


def test_status_rule_from_and_initial() -> None:
    rule = StatusRule(
        name="paused from charge",
        to=frozenset({StatusCode.PAUSE}),
        from_statuses=frozenset({StatusCode.CHARGE}),
        include_initial=True,
    )
    with AlertEngine([rule], default_notify=()) as engine:
        assert len(engine.on_readings("A", [reading(1, status=StatusCode.PAUSE)], 0.0)) == 1
        engine.on_readings("A", [reading(2, status=StatusCode.REST)], 0.0)
        assert engine.on_readings("A", [reading(2, status=StatusCode.PAUSE)], 1.0) == []


def test_stale_and_comm_failure() -> None:
    rules = [StaleDataRule(name="stale", intervals=3), CommFailureRule(name="comm")]
    with AlertEngine(rules, default_notify=()) as engine:
        events = []
        for t in range(6):
            events += engine.on_readings("A", [reading(test_time_s=10.0)], float(t))
        assert [(e.rule, e.kind) for e in events] == [("stale", EventKind.FIRED)]
        assert events[0].time == 3.0
        events = engine.on_readings("A", [reading(test_time_s=11.0, comm_failure=1)], 6.0)
        assert sorted((e.rule, e.kind.value) for e in events) == [
            ("comm", "fired"),
            ("stale", "resolved"),
        ]
        # A channel that is not running is never stale.
        for t in range(7, 12):
            events = engine.on_readings("A", [reading(status=StatusCode.IDLE)], float(t))
            assert [e.rule for e in events if e.kind is EventKind.FIRED] == []


def test_unreachable_after_failures() -> None:
    rule = UnreachableRule(name="down", after=2, severity=Severity.CRITICAL)
    with AlertEngine([rule], default_notify=()) as engine:
        error = CtiConnectionError("connection refused")
        assert engine.on_error("A", error, 0.0) == []
        events = engine.on_error("A", error, 1.0)
        assert len(events) == 1 and events[0].channel is None
        assert "connection refused" in events[0].message
        assert engine.on_error("A", error, 2.0) == []
        events = engine.on_readings("A", [reading()], 3.0)
        assert [e.kind for e in events] == [EventKind.RESOLVED]


def test_log_notifier_writes_messages(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pyctiarbin.alerts")
    with AlertEngine([hot_rule(for_s=0, severity=Severity.CRITICAL)]) as engine:
        engine.on_readings("A", [reading(temps=(50.0,))], 0.0)
        engine.on_readings("A", [reading(temps=(20.0,))], 1.0)
    messages = [(r.levelno, r.getMessage()) for r in caplog.records if "hot" in r.getMessage()]
    assert messages[0][0] == logging.ERROR and messages[0][1].startswith("[CRITICAL] hot: A ch 1")
    assert messages[1][0] == logging.INFO and messages[1][1].startswith("[RESOLVED] hot: A ch 1")
    assert engine.stats["log"].delivered == 2


def test_engine_refuses_unknown_notifier_and_duplicate_names() -> None:
    with pytest.raises(ValueError, match=r"unknown notifier.*pager"):
        AlertEngine([hot_rule(notify=("pager",))])
    with pytest.raises(ValueError, match="unique: hot"):
        AlertEngine([hot_rule(), hot_rule()])


def test_rule_validation() -> None:
    with pytest.raises(RuleError, match=r"clear .* must be at or below"):
        hot_rule(clear=50.0)
    with pytest.raises(RuleError, match="op must be one of"):
        hot_rule(op="=>")
    with pytest.raises(RuleError, match="unknown aux kind 'temp'"):
        FieldRef.parse("aux.temp[1]")
    with pytest.raises(RuleError, match="unknown field 'volts'"):
        FieldRef.parse("volts")
    with pytest.raises(RuleError, match="has no channel to stop"):
        UnreachableRule(name="x", action="stop")
    with pytest.raises(RuleError, match="unknown status 'Exploded'"):
        parse_status("Exploded")
    assert parse_status("paused") is StatusCode.PAUSE
    assert parse_status("external_charge") is StatusCode.EXTERNAL_CHARGE
    assert parse_channels("1-3, 8") == {1, 2, 3, 8}
    with pytest.raises(RuleError, match="numbered from 1"):
        parse_channels([0, 1])


RULES_TOML = """
[defaults]
notify = ["log", "chat"]
interval_s = 0.5

[notifiers.chat]
type = "webhook"
url_env = "TEST_HOOK_URL"
format = "slack"
retries = 1

[notifiers.mail]
type = "email"
host = "smtp.example.org"
from = "alerts@example.org"
to = "oncall@example.org"

[[rules]]
name = "hot"
kind = "threshold"
field = "temperature[1]"
op = ">="
value = 45
for_s = 10
clear = 43
severity = "critical"
notify = ["log", "mail"]
action = "stop"
channels = "1-4"

[[rules]]
name = "went unsafe"
kind = "status"
to = ["Unsafe", "Error"]

[[rules]]
name = "down"
kind = "unreachable"
after = 3
"""


def test_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(RULES_TOML)
    env = {
        "TEST_HOOK_URL": "https://hooks.example.org/services/SECRET",
        "PYCTI_SMTP_USERNAME": "alice",
        "PYCTI_SMTP_PASSWORD": "hunter2",
    }
    config = load_alert_config(path, environ=env)
    assert [r.name for r in config.rules] == ["hot", "went unsafe", "down"]
    assert config.interval_s == 0.5 and config.default_notify == ("log", "chat")
    assert config.needs_aux
    hot = config.rules[0]
    assert isinstance(hot, ThresholdRule) and hot.channels == frozenset({1, 2, 3, 4})
    assert hot.field.text == "aux.temperature[1]" and hot.action == "stop"
    texts = " ".join(repr(n) for n in config.notifiers)
    assert "SECRET" not in texts and "hunter2" not in texts and "alice" in texts


def test_rules_file_checked_without_secrets(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(RULES_TOML)
    with pytest.raises(RuleError, match=r"TEST_HOOK_URL .* is not set"):
        load_alert_config(path, environ={"PYCTI_SMTP_USERNAME": "alice"})
    config = load_alert_config(path, environ={"PYCTI_SMTP_USERNAME": "alice"}, secrets=False)
    assert [r.name for r in config.rules] == ["hot", "went unsafe", "down"]
    assert config.unset_env == (
        "TEST_HOOK_URL ([notifiers.chat] url_env)",
        "PYCTI_SMTP_PASSWORD ([notifiers.mail] password_env)",
    )
    # Everything but the secrets is still checked.
    path.write_text(RULES_TOML.replace('op = ">="', 'op = "=>"', 1))
    with pytest.raises(RuleError, match="op must be one of"):
        load_alert_config(path, environ={}, secrets=False)
    complete = {"TEST_HOOK_URL": "https://hooks.example.org/x", "PYCTI_SMTP_PASSWORD": "pw"}
    path.write_text(RULES_TOML)
    assert load_alert_config(path, environ=complete, secrets=False).unset_env == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[rules]]\nname='a'\nkind='threshold'\nop='>'\nvalue=1\n", "needs 'field'"),
        ("[[rules]]\nname='a'\nkind='bogus'\n", "kind must be one of"),
        ("[[rules]]\nname='a'\nkind='status'\nto='Unsafe'\nnotify=['x']\n", "unknown notifier"),
        ("[[rules]]\nname='a'\nkind='status'\nto='Unsafe'\ncolour=1\n", "unknown key.*colour"),
        ("[notifiers.w]\ntype='webhook'\nurl_env='NOPE'\n", "NOPE .* is not set"),
        ("[notifiers.m]\ntype='email'\nhost='h'\nfrom='a'\nto='b'\npassword='x'\n", "password_env"),
        ("rules = 1\n", "array of tables"),
        ("[defaults]\ninterval_s = 0\n", "interval_s must be a positive"),
        ("x = [\n", "not valid TOML"),
    ],
)
def test_rules_file_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RuleError, match=message):
        load_alert_config(path, environ={})
