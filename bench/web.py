"""Dashboard benchmark: a fleet of 16 cyclers x 128 channels and a test of 10^6 readings.

    python bench/web.py                      # 16 x 128 channels, 10^6 readings
    python bench/web.py --readings 200000    # a smaller test

Builds an SQLite logger database with synthetic rows (the logger's own schema), serves the
dashboard over it and measures:

* the fleet page in headless Chromium (Debian's chromium + chromium-driver): time from
  navigation start to the first full render of every channel, and the time of each later
  update (the page polls /api/fleet every second); the server time of /api/fleet;
* the channel plot: server time of /api/series for the whole test (downsampled to 1800
  points) and for zoomed ranges, and of /api/cycles (capacity per cycle, a full scan).

Goals: first render < 1 s, plot request < 300 ms. This is a measurement, not a test: it prints
and exits 0 unless the set-up fails.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
import urllib.request
from contextlib import closing
from pathlib import Path

from pyctiarbin.logger import READING_COLUMNS
from pyctiarbin.logger.sinks.sqlite import SqliteDatabase
from pyctiarbin.web.server import RunningServer, WebSettings

TEST_ID = 4242424242424242


def _row(cycler: str, channel: int, when: float, test_id: int | None, k: int) -> tuple[object, ...]:
    cycle = 1 + k // 3600
    values: dict[str, object] = {c: 0.0 for c in READING_COLUMNS}
    values.update(
        cycler=cycler,
        channel=channel,
        unix_time_s=when,
        test_id=test_id,
        status="Charge" if (k // 1800) % 2 == 0 else "Discharge",
        comm_failure=0,
        schedule="Cycle_CCCV.sdx",
        test_name="bench",
        exit_condition="",
        step_and_cycle_format=f"[{cycle}] {1 + (k // 1800) % 2}: CC",
        barcode="",
        can_config_name="",
        smb_config_name="",
        master_channel=0,
        test_time_s=float(k),
        voltage_v=3.6 + 0.5 * ((k % 1800) / 1800),
        current_a=1.0,
        charge_capacity_ah=(k % 3600) / 3600,
        discharge_capacity_ah=max(0.0, (k % 3600 - 1800) / 3600),
        aux='{"temperature":[[25.5,0.0]]}',
        bms=None,
        smb=None,
    )
    return tuple(values[c] for c in READING_COLUMNS)


def build(path: Path, cyclers: int, channels: int, readings: int) -> None:
    database = SqliteDatabase(path)
    database.connect()
    database.disconnect()
    now = time.time()
    marks = ", ".join("?" for _ in READING_COLUMNS)
    insert = f"INSERT INTO readings ({', '.join(READING_COLUMNS)}) VALUES ({marks})"
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA synchronous=OFF")
        for c in range(cyclers):
            name = f"bay{c + 1:02d}"
            db.execute(
                "INSERT INTO cyclers VALUES (?, '127.0.0.1', ?, ?, ?, '', 0, ?, ?)",
                (name, 9031 + c, f"SN{c:04d}", channels, now, now),
            )
            db.executemany(
                "INSERT INTO channels VALUES (?, ?)", [(name, n) for n in range(1, channels + 1)]
            )
            rows = [
                _row(name, n, now - 2 + t, None, int(random.random() * 3600))
                for n in range(1, channels + 1)
                for t in range(3)
            ]
            db.executemany(insert, rows)
        start = now - readings
        db.execute(
            "INSERT INTO tests VALUES (?, 'bay01', 1, 'SN0000', 'Cycle_CCCV.sdx', 'bench', '', "
            "?, ?, 'Charge', NULL, NULL)",
            (TEST_ID, start, start),
        )
        batch: list[tuple[object, ...]] = []
        for k in range(readings):
            # Channel 1 of bay01 before the fleet rows: one reading per second.
            batch.append(_row("bay01", 1, start - 5 + k, TEST_ID, k))
            if len(batch) == 50_000:
                db.executemany(insert, batch)
                batch.clear()
        db.executemany(insert, batch)
        db.commit()


def _get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
    return (time.perf_counter() - started) * 1000


def _median(url: str, repeat: int) -> tuple[float, float]:
    times = [_get(url) for _ in range(repeat)]
    return statistics.median(times), max(times)


def browser_figures(url: str, updates: int) -> tuple[float, list[float]] | None:
    if not Path("/usr/bin/chromium").exists() or not Path("/usr/bin/chromedriver").exists():
        print("fleet page in Chromium: skipped (/usr/bin/chromium or chromedriver missing)")
        return None
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(url)
        deadline = time.monotonic() + 60
        while not driver.execute_script("return document.body.dataset.firstRenderMs"):
            if time.monotonic() > deadline:
                raise RuntimeError("the fleet page did not render within 60 s")
            time.sleep(0.05)
        first = float(driver.execute_script("return document.body.dataset.firstRenderMs"))
        cells = driver.execute_script("return document.querySelectorAll('#fleet tbody tr').length")
        print(f"fleet rows rendered: {cells}")
        renders: list[float] = []
        seen = 1
        while len(renders) < updates and time.monotonic() < deadline + 60:
            count = int(driver.execute_script("return document.body.dataset.fleetUpdates"))
            if count > seen:
                seen = count
                renders.append(
                    float(driver.execute_script("return document.body.dataset.renderMs"))
                )
            time.sleep(0.05)
        return first, renders
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cyclers", type=int, default=16)
    parser.add_argument("--channels", type=int, default=128)
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        started = time.perf_counter()
        build(path, args.cyclers, args.channels, args.readings)
        print(
            f"database: {args.cyclers} x {args.channels} channels, test of {args.readings} "
            f"readings, built in {time.perf_counter() - started:.1f} s"
        )
        settings = WebSettings(f"sqlite:///{path}", stale_after_s=1e9)
        with RunningServer(settings) as server:
            median, worst = _median(server.url + "/api/fleet", 10)
            print(f"/api/fleet server time: median {median:.0f} ms, max {worst:.0f} ms")
            figures = browser_figures(server.url + "/", updates=5)
            if figures is not None:
                first, renders = figures
                goal = "ok" if first < 1000 else "MISSED"
                print(f"fleet first full render: {first:.0f} ms (goal < 1000 ms: {goal})")
                if renders:
                    print(
                        f"fleet update render: median {statistics.median(renders):.1f} ms, "
                        f"max {max(renders):.1f} ms over {len(renders)} updates "
                        "(plus the /api/fleet time above, once a second)"
                    )
            base = f"{server.url}/api/series?test_id={TEST_ID}&points=1800"
            whole, worst = _median(base, args.repeat)
            goal = "ok" if whole < 300 else "MISSED"
            print(
                f"plot, whole test: median {whole:.0f} ms, max {worst:.0f} ms "
                f"(goal < 300 ms: {goal})"
            )
            start = time.time() - args.readings
            for fraction in (0.1, 0.001):
                span = args.readings * fraction
                lo = start + args.readings * 0.4
                url = f"{base}&start={lo}&end={lo + span}"
                zoomed, worst = _median(url, args.repeat)
                print(
                    f"plot, zoomed to {fraction:.1%} of the test: median {zoomed:.0f} ms, "
                    f"max {worst:.0f} ms"
                )
            first_cycles = _get(f"{server.url}/api/cycles/{TEST_ID}")
            cached, _ = _median(f"{server.url}/api/cycles/{TEST_ID}", args.repeat)
            print(
                f"capacity per cycle: first request {first_cycles:.0f} ms (a full scan of the "
                f"test), then {cached:.0f} ms (cached until the test has a new reading)"
            )


if __name__ == "__main__":
    main()
