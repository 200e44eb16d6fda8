"""Fixtures of the dashboard tests: the lab (two logged simulators), the dashboard served
read-only and with control, and a headless Chromium driven by Selenium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyctiarbin.web.server import RunningServer, WebSettings

from .lab import Lab, running_lab

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("web-lab")) as running:
        yield running


@pytest.fixture(scope="module")
def readonly_server(lab: Lab) -> Iterator[RunningServer]:
    with RunningServer(WebSettings(lab.url, stale_after_s=5.0)) as server:
        yield server


@pytest.fixture(scope="module")
def control_server(lab: Lab) -> Iterator[RunningServer]:
    settings = WebSettings(lab.url, config_path=lab.config_file(), allow_control=True)
    with RunningServer(settings) as server:
        yield server


@pytest.fixture(autouse=True)
def browser_quiet_after_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test, leave the browser's page (its polling stops) and let the servers finish
    the requests under way (a response is sent before its task ends), so that none is
    counted as a leaked task."""
    yield
    if "browser" in request.fixturenames:
        request.getfixturevalue("browser").get("about:blank")
    for name in ("readonly_server", "control_server"):
        if name in request.fixturenames:
            assert request.getfixturevalue(name).wait_idle(), f"{name} stays busy"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (Debian's chromium + chromium-driver packages)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} or {CHROMEDRIVER} is missing on CI (.ci/run installs them)")
        pytest.skip(
            f"{CHROMIUM} or {CHROMEDRIVER} is missing: apt-get install chromium chromium-driver"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
