"""``pycti alerts``, run as a user runs it (a subprocess), against the simulator."""

from __future__ import annotations

import subprocess
from pathlib import Path

from lab_servers import WebhookServer
from pyctiarbin.simulator import Simulator

from .support import LAB_CREDENTIALS, pycti, pycti_argv, running

RULES = """
[defaults]
notify = ["log", "hook"]
interval_s = 0.1

[notifiers.hook]
type = "webhook"
url_env = "TEST_ALERT_HOOK"
format = "slack"

[[rules]]
name = "cell too hot"
kind = "threshold"
field = "aux.temperature"
op = ">"
value = 45
clear = 43
severity = "critical"
channels = "1-4"

[[rules]]
name = "cycler down"
kind = "unreachable"
after = 3
"""


def test_pycti_alerts_fires_and_resolves(
    simulator: Simulator, webhook: WebhookServer, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    simulator.set_aux(3, temperature_c=52.0)
    argv = pycti_argv(
        "alerts", "--rules", str(rules),
        "--cycler", f"bay1={simulator.host}:{simulator.port}", "--duration", "4",
    )  # fmt: skip
    with running(
        argv, cwd=tmp_path, env={**LAB_CREDENTIALS, "TEST_ALERT_HOOK": webhook.url}
    ) as process:
        webhook.wait_for(1, timeout_s=20)
        simulator.set_aux(3, clear=True)
        webhook.wait_for(2, timeout_s=20)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    texts = [post["text"] for post in webhook.received]
    assert texts[0].startswith("[CRITICAL] cell too hot: bay1 ch 3: aux.temperature[1] = 52")
    assert texts[1].startswith("[RESOLVED] cell too hot: bay1 ch 3")
    lines = [line for line in out.splitlines() if "cell too hot" in line]
    assert len(lines) == 2 and "[CRITICAL]" in lines[0] and "[RESOLVED]" in lines[1]
    assert "watching bay1 every 0.1 s with 2 rule(s)" in err
    assert webhook.url.rsplit("/", 1)[1] not in out + err  # the hook's secret path


def test_pycti_alerts_check_and_errors(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    env = {**LAB_CREDENTIALS, "TEST_ALERT_HOOK": "https://hooks.example.org/T000/SECRET"}

    def alerts(*args: str) -> subprocess.CompletedProcess[str]:
        return pycti("alerts", *args, cwd=tmp_path, env=env)

    checked = alerts("--rules", str(rules), "--check")
    assert checked.returncode == 0, checked.stderr
    assert "cell too hot (threshold, critical) [channels 1,2,3,4] -> log, hook" in checked.stdout
    assert "SECRET" not in checked.stdout and "hooks.example.org" in checked.stdout

    rules.write_text(RULES.replace('op = ">"', 'op = "=>"'))
    bad = alerts("--rules", str(rules), "--check")
    assert bad.returncode == 2
    assert "rule 'cell too hot': op must be one of" in bad.stderr

    rules.write_text(RULES)
    no_cycler = alerts("--rules", str(rules))
    assert no_cycler.returncode == 2 and "which cyclers?" in no_cycler.stderr


def test_pycti_alerts_check_needs_no_secrets_but_a_run_does(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)

    def alerts(*args: str) -> subprocess.CompletedProcess[str]:
        # TEST_ALERT_HOOK, the webhook's URL, is not set.
        return pycti("alerts", "--rules", str(rules), *args, cwd=tmp_path, env=LAB_CREDENTIALS)

    checked = alerts("--check")
    assert checked.returncode == 0, checked.stderr
    assert "cell too hot (threshold, critical) [channels 1,2,3,4] -> log, hook" in checked.stdout
    assert "note: TEST_ALERT_HOOK ([notifiers.hook] url_env) is not set" in checked.stderr

    run = alerts("--cycler", "bay1=127.0.0.1:1", "--duration", "0.1")
    assert run.returncode == 2
    assert "environment variable TEST_ALERT_HOOK (url_env) is not set" in run.stderr
