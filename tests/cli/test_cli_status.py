"""``pycti status`` and ``pycti info`` against the simulator, in every output format."""

from __future__ import annotations

import csv
import io
import json
import math

from pyctiarbin import CyclerClient
from pyctiarbin.simulator import Simulator
from pyctiarbin.status_formats import CHANNEL_KEYS, CSV_COLUMNS

from .support import PASSWORD, USER, RunPycti, address, lines

_NUMBER_KEYS = [k for k in CHANNEL_KEYS if k.endswith(("_s", "_v", "_a", "_w", "_ah", "_wh"))]


def _start_test(sim: Simulator, channel: int, schedule: str, test_name: str) -> None:
    with CyclerClient(sim.host, sim.port, username=USER, password=PASSWORD) as client:
        client.assign_schedule(channel, schedule)
        client.start(channel, test_name)


def test_status_json_is_every_channel_with_stable_keys(sim: Simulator, run_pycti: RunPycti) -> None:
    _start_test(sim, 2, "CCCV_Charge.sdx", "json-test")
    sim.set_aux(3, temperature_c=41.5)

    result = run_pycti("status", *address(sim), "--format", "json")

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    document = json.loads(result.stdout)
    assert list(document) == ["cycler", "read_at", "channels"]
    assert document["cycler"] == f"{sim.host}:{sim.port}"
    channels = document["channels"]
    assert [c["channel"] for c in channels] == list(range(1, 17))
    for record in channels:
        assert tuple(record) == CHANNEL_KEYS
        assert isinstance(record["status"], str) and isinstance(record["status_code"], int)
        for key in _NUMBER_KEYS:
            assert isinstance(record[key], float) and math.isfinite(record[key]), key
    running = channels[1]
    assert running["test_name"] == "json-test"
    assert running["schedule"] == "CCCV_Charge.sdx"
    assert running["status"] == "Charge"
    assert running["current_a"] > 0
    assert channels[0]["status"] == "Idle" and channels[0]["test_name"] == ""
    assert channels[2]["temperatures_c"] == [41.5]


def test_status_csv_has_the_documented_columns(sim: Simulator, run_pycti: RunPycti) -> None:
    _start_test(sim, 5, "CC_Discharge.sdx", "csv-test")

    result = run_pycti("status", *address(sim), "-f", "csv")

    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == CSV_COLUMNS
    records = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert [int(r["channel"]) for r in records] == list(range(1, 17))
    discharging = records[4]
    assert discharging["status"] == "Discharge"
    assert discharging["test_name"] == "csv-test"
    assert float(discharging["current_a"]) < 0
    assert float(discharging["voltage_v"]) > 2.0
    assert all(float(r["temperatures_c"].split(";")[0]) > 0 for r in records)


def test_status_table_is_plain_text_when_not_a_terminal(
    sim: Simulator, run_pycti: RunPycti
) -> None:
    _start_test(sim, 1, "Rest.sdx", "table-test")

    result = run_pycti("status", *address(sim))

    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout  # no colours or cursor moves in a pipe
    out = lines(result.stdout)
    assert out[0].startswith(f"{sim.host}:{sim.port}")
    assert out[1].split()[:3] == ["Ch", "Status", "Schedule"]
    assert len(out) == 2 + 16
    assert out[2].split()[:5] == ["1", "Rest", "Rest.sdx", "table-test", "[1]"]
    assert out[3].split()[:4] == ["2", "Idle", "-", "-"]
    assert all(line == line.rstrip() for line in out)


def test_status_watch_narrowed_to_channels_prints_json_lines(
    sim: Simulator, run_pycti: RunPycti
) -> None:
    result = run_pycti(
        "status", *address(sim), "-c", "2-3", "-c", "9", "-f", "json", "--watch", "0.1", "-n", "3"
    )

    assert result.returncode == 0, result.stderr
    documents = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(documents) == 3
    assert all([c["channel"] for c in d["channels"]] == [2, 3, 9] for d in documents)
    assert documents[0]["read_at"] < documents[2]["read_at"]


def test_info_shows_the_login_feedback(sim: Simulator, run_pycti: RunPycti) -> None:
    result = run_pycti("info", *address(sim), "--format", "json")

    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["serial_number"] == sim.config.serial_number
    assert info["nickname"] == sim.config.nickname
    assert info["num_channels"] == 16
    assert info["allow_control"] is True
    assert info["username"] == USER
    assert info["credentials_source"] == "environment"
    assert info["port"] == sim.port and info["file_port"] == sim.file_port
    assert PASSWORD not in result.stdout


def test_bare_host_takes_its_ports_from_pycti_port(sim: Simulator, run_pycti: RunPycti) -> None:
    ports = {"PYCTI_PORT": str(sim.port), "PYCTI_FILE_PORT": str(sim.file_port)}
    result = run_pycti("info", "--host", sim.host, "--format", "json", env=ports)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert (info["port"], info["file_port"]) == (sim.port, sim.file_port)

    # An explicit option or a HOST:PORT spec wins over the environment.
    spec = f"{sim.host}:{sim.port}"
    result = run_pycti("info", "--cycler", spec, "--format", "json", env={"PYCTI_PORT": "1"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["port"] == sim.port

    bad = run_pycti("info", "--host", sim.host, env={"PYCTI_PORT": "90310"})
    assert bad.returncode == 2
    assert "$PYCTI_PORT must be a TCP port number (1..65535), not '90310'" in bad.stderr
