"""pycti web as a program, its users and passwords, and the API's answers to bad requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.support import pycti_argv, running
from pyctiarbin.cli import run
from pyctiarbin.config import load_lab_config
from pyctiarbin.web.auth import Sessions, hash_password, load_web_config, verify_password
from pyctiarbin.web.server import RunningServer

from .lab import WEB_PASSWORD, WEB_USER, Lab, http, log_in


def test_password_hashes() -> None:
    stored = hash_password("s3cret pass")
    assert stored.startswith("scrypt$16384$8$1$") and "s3cret" not in stored
    assert verify_password("s3cret pass", stored)
    assert not verify_password("s3cret pas", stored)
    assert hash_password("same") != hash_password("same")  # a random salt each time
    with pytest.raises(ValueError, match="empty"):
        hash_password("")
    with pytest.raises(ValueError, match=r"scrypt\$N\$r\$p\$salt\$hash"):
        verify_password("x", "sha256$abc")


def test_web_users_come_from_the_lab_config(tmp_path: Path) -> None:
    config = tmp_path / "lab.toml"
    config.write_text(
        '[cyclers.bay1]\nhost = "127.0.0.1"\n\n[web]\naudit_log = "logs/audit.log"\n'
        f'[web.users.{WEB_USER}]\npassword = "{hash_password(WEB_PASSWORD)}"\n'
    )
    assert set(load_lab_config(config).cyclers) == {"bay1"}  # the [web] table is accepted
    web = load_web_config(config)
    assert set(web.users) == {WEB_USER}
    assert web.audit_log == tmp_path / "logs" / "audit.log"
    assert WEB_PASSWORD not in repr(web) and "scrypt" not in repr(web)
    sessions = Sessions(web)
    assert sessions.login(WEB_USER, "wrong") is None
    assert sessions.login("mallory", WEB_PASSWORD) is None
    logged_in = sessions.login(WEB_USER, WEB_PASSWORD)
    assert logged_in is not None
    session_id, session = logged_in
    assert sessions.get(session_id) is session and session.user == WEB_USER
    sessions.logout(session_id)
    assert sessions.get(session_id) is None

    for bad, message in (
        ("[web]\nport = 1\n", "unknown key"),
        ('[web.users."bad name"]\npassword = "x"\n', "user name"),
        ('[web.users.bob]\npassword = "plain"\n', r"scrypt\$N"),
        ('[web.users.bob]\npass = "x"\n', "exactly one key"),
    ):
        config.write_text(bad)
        with pytest.raises(ValueError, match=message):
            load_web_config(config)


def test_pycti_web_refuses_control_without_users_and_a_missing_database(
    lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = lab.url
    config = tmp_path / "lab.toml"
    config.write_text('[cyclers.bay1]\nhost = "127.0.0.1"\n')
    assert run(["web", "--db", url, "--config", str(config), "--allow-control"]) == 2
    assert "--allow-control needs users" in capsys.readouterr().err
    assert run(["web", "--db", f"sqlite:///{tmp_path / 'none.db'}"]) == 2
    assert "no logger database" in capsys.readouterr().err
    assert run(["web"]) == 2
    assert "--db URL is required" in capsys.readouterr().err


def test_pycti_web_serves_until_its_duration(lab: Lab) -> None:
    url = lab.url
    argv = pycti_argv("web", "--db", url, "--port", "0", "--duration", "3")
    with running(argv) as process:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert line.startswith("pycti web: serving http://127.0.0.1:"), line
        base = line.split()[-1].rstrip("/")
        status, fleet = http(base + "/api/fleet")
        assert status == 200
        assert [len(c["channels"]) for c in fleet["cyclers"]] == [4, 3]
        status, script = http(base + "/static/app.js")
        assert status == 200 and "pollFleet" in script
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err


def test_bad_requests_get_clear_errors(lab: Lab, control_server: RunningServer) -> None:
    url = control_server.url
    status, body = http(f"{url}/api/series?cycler=bay1")
    assert status == 400 and "test_id, or a cycler and a channel" in body["error"]
    status, body = http(f"{url}/api/series?cycler=bay1&channel=1&points=1")
    assert status == 400 and "points must be 2..20000" in body["error"]
    status, body = http(f"{url}/api/series?cycler=bay1&channel=1&start=nan")
    assert status == 400 and "finite" in body["error"]
    status, body = http(
        f"{url}/login", method="POST", body={"username": WEB_USER, "password": "nope"}
    )
    assert status == 401 and body["error"] == "wrong user name or password"
    status, body = http(f"{url}/login", method="POST", body={"username": WEB_USER})
    assert status == 400
    cookie, csrf, header = log_in(url)
    assert "httponly" in header.lower() and "samesite=strict" in header.lower()
    assert log_in(url)[1] != csrf  # every login its own token
    headers = {"Cookie": f"pycti_session={cookie}", "X-CSRF-Token": csrf}
    status, body = http(f"{url}/api/session", headers=headers)
    assert body == {"user": WEB_USER, "csrf": csrf}
    before = lab.audit_log.read_text() if lab.audit_log.exists() else ""
    for action, payload, message in (
        ("mv", {"variable": 17, "value": 1.0}, "variable 1..16"),
        ("mv", {"variable": 1, "value": "hot"}, "finite numeric value"),
        ("start", {}, "start needs a test_name"),
        ("jump", {}, "unknown action 'jump'"),
    ):
        status, body = http(
            f"{url}/api/control/bay1/3/{action}", method="POST", body=payload, headers=headers
        )
        assert status in (400, 404) and message in body["error"], action
    status, body = http(
        f"{url}/api/control/nowhere/3/stop", method="POST", body={}, headers=headers
    )
    assert status == 400 and "unknown cycler 'nowhere'" in body["outcome"]
    after = lab.audit_log.read_text()
    assert after.startswith(before)
    assert after[len(before) :].count("\n") == 1 and "cycler=nowhere" in after[len(before) :]
