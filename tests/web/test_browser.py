"""The dashboard in a real headless Chromium, against two simulators being logged."""

from __future__ import annotations

import time
from typing import Any

from selenium.webdriver.common.by import By

from pyctiarbin.data import LabData
from pyctiarbin.protocol import StatusCode
from pyctiarbin.web.server import RunningServer

from .lab import ALERT_RULE, WEB_PASSWORD, WEB_USER, Lab, http, wait_for


def _text(driver: Any, element_id: str) -> str:
    found = driver.find_elements(By.ID, element_id)
    return str(found[0].text) if found else ""


def test_fleet_lists_every_channel_and_follows_the_cells(
    lab: Lab, readonly_server: RunningServer, browser: Any
) -> None:
    browser.get(readonly_server.url + "/")
    for cycler, channels in (("bay1", 4), ("bay2", 3)):
        for channel in range(1, channels + 1):
            wait_for(
                lambda c=cycler, n=channel: _text(browser, f"v-{c}-{n}"),
                f"{cycler} channel {channel} shows a voltage",
            )
    assert not browser.find_elements(By.ID, "row-bay2-4")
    assert _text(browser, "status-bay1-1") == "Charge"
    assert _text(browser, "test-bay1-1") == "web-test"
    assert "st-run" in browser.find_element(By.ID, "row-bay1-1").get_attribute("class")
    assert _text(browser, "state-bay2") == "up"
    # No reload: a marker set on this page survives the live updates.
    browser.execute_script("window.pyctiMarker = 42;")
    lab.bay2.set_channel_status(3, voltage_v=3.125)
    wait_for(lambda: _text(browser, "v-bay2-3") == "3.1250", "the new voltage is on screen")
    assert browser.execute_script("return window.pyctiMarker;") == 42
    lab.bay2.set_channel_status(3, voltage_v=None)


def test_channel_plot_renders_the_logged_points(
    lab: Lab, readonly_server: RunningServer, browser: Any
) -> None:
    browser.get(readonly_server.url + "/channel/bay1/1")
    canvas = wait_for(
        lambda: [
            c
            for c in browser.find_elements(By.ID, "plot-voltage_v")
            if int(c.get_attribute("data-points") or 0) > 5
        ],
        "the voltage plot has points",
    )[0]
    points = int(canvas.get_attribute("data-points"))
    low = float(canvas.get_attribute("data-xmin"))
    high = float(canvas.get_attribute("data-xmax"))
    with LabData(lab.url) as data:
        test_id = data.tests(cycler="bay1", channel=1)[-1].test_id
        stored = data.readings(test_id=test_id, start_s=low, columns=["unix_time_s", "voltage_v"])
    shown = [v for t, v in stored.rows() if t <= high and v is not None]
    assert points == len(shown)
    link = browser.find_element(By.ID, "export-link").get_attribute("href")
    assert link.endswith(f"/export/{test_id}.bdf.csv")
    status, body = http(link)
    assert status == 200 and body.startswith("test_time_second,voltage_volt,")
    for name in ("current_a", "temperature_c", "capacity"):
        plot = browser.find_element(By.ID, f"plot-{name}")
        if name != "temperature_c":  # bay1 channel 1 has no aux temperature pinned
            assert int(plot.get_attribute("data-points")) >= points
    # No control without --allow-control: no buttons, the panel stays hidden.
    assert not browser.find_elements(By.CSS_SELECTOR, "button.control")
    assert not browser.find_element(By.ID, "control-panel").is_displayed()


def test_an_alert_fired_by_a_rule_shows_up(
    lab: Lab, readonly_server: RunningServer, browser: Any
) -> None:
    browser.get(readonly_server.url + "/alerts")
    lab.bay1.set_aux(3, temperature_c=52.5)
    try:
        row = wait_for(
            lambda: [
                r
                for r in browser.find_elements(By.CSS_SELECTOR, "#alerts-active tr")
                if ALERT_RULE in r.text and "bay1 ch 3" in r.text
            ],
            "the alert is listed as active",
        )[0]
        assert "critical" in row.text and "52.5" in row.text
    finally:
        lab.bay1.set_aux(3, clear=True)


def test_without_control_there_are_no_control_routes(readonly_server: RunningServer) -> None:
    for path in ("/api/control/bay1/1/stop", "/login", "/logout"):
        status, _ = http(readonly_server.url + path, method="POST", body={})
        assert status in (404, 405), path
    status, _ = http(readonly_server.url + "/login")
    assert status == 404


def _log_in(browser: Any, server: RunningServer, next_path: str) -> None:
    browser.get(f"{server.url}/login?next={next_path}")
    browser.find_element(By.ID, "login-user").send_keys(WEB_USER)
    browser.find_element(By.ID, "login-password").send_keys("wrong password")
    browser.find_element(By.ID, "login-submit").click()
    wait_for(
        lambda: "wrong user name or password" in _text(browser, "login-error"),
        "a wrong password is refused",
    )
    browser.find_element(By.ID, "login-password").clear()
    browser.find_element(By.ID, "login-password").send_keys(WEB_PASSWORD)
    browser.find_element(By.ID, "login-submit").click()
    wait_for(lambda: browser.current_url.endswith(next_path), "the login page sends us on")


def test_control_needs_a_login_a_confirmation_and_the_csrf_token(
    lab: Lab, control_server: RunningServer, browser: Any
) -> None:
    url = control_server.url
    # Anonymous: refused, and the page offers a login instead of buttons.
    status, body = http(f"{url}/api/control/bay1/2/stop", method="POST", body={})
    assert status == 401 and "log in" in body["error"]
    browser.delete_all_cookies()
    browser.get(f"{url}/channel/bay1/2")
    wait_for(lambda: browser.find_elements(By.ID, "control-login"), "a login link is shown")
    assert not browser.find_elements(By.CSS_SELECTOR, "button.control")
    assert lab.bay1.channel(2).status.is_running

    _log_in(browser, control_server, "/channel/bay1/2")
    stop = wait_for(lambda: browser.find_elements(By.ID, "control-stop"), "a Stop button")[0]
    # Cancelled in the dialog: nothing is sent.
    stop.click()
    dialog_text = wait_for(lambda: _text(browser, "confirm-text"), "the dialog opens")
    assert dialog_text == "Stop on cycler bay1, channel 2?"
    browser.find_element(By.ID, "confirm-cancel").click()
    wait_for(lambda: _text(browser, "control-result") == "Stop: cancelled", "cancelled")
    time.sleep(0.3)
    assert lab.bay1.channel(2).status.is_running
    assert not lab.audit_log.exists() or "channel=2 action=stop" not in lab.audit_log.read_text()
    # Confirmed: the stop reaches the simulator and the audit log.
    stop.click()
    wait_for(lambda: browser.find_element(By.ID, "confirm").is_displayed(), "the dialog opens")
    browser.find_element(By.ID, "confirm-ok").click()
    wait_for(lambda: _text(browser, "control-result") == "Stop: ok", "the stop is acknowledged")
    assert lab.bay1.channel(2).status not in (
        StatusCode.CHARGE,
        StatusCode.DISCHARGE,
        StatusCode.REST,
    )
    assert not lab.bay1.channel(2).status.is_running
    lines = lab.audit_log.read_text().splitlines()
    assert len(lines) == 1
    assert f"user={WEB_USER} cycler=bay1 channel=2 action=stop outcome=ok" in lines[0]

    # The same session without its CSRF token (a forged request): refused, nothing sent.
    cookie = browser.get_cookie("pycti_session")["value"]
    headers = {"Cookie": f"pycti_session={cookie}"}
    status, body = http(f"{url}/api/control/bay1/1/stop", method="POST", body={}, headers=headers)
    assert status == 403 and "CSRF" in body["error"]
    status, body = http(
        f"{url}/api/control/bay1/1/stop",
        method="POST",
        body={},
        headers={**headers, "X-CSRF-Token": "forged"},
    )
    assert status == 403
    assert lab.bay1.channel(1).status.is_running
    assert len(lab.audit_log.read_text().splitlines()) == 1
