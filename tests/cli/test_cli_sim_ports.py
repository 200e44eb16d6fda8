"""``pycti sim`` defaults: the file port follows the control port, each simulator has its own
serial number, a port that cannot be bound is named by the option that chose it."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from .support import RunPycti, pycti_sim


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_pair(avoid: frozenset[int] = frozenset()) -> int:
    """A port P such that P and P + 1 are both free now (and not in ``avoid``)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        free = port < 65535 and not {port, port + 1} & avoid
        if free and _bindable(port + 1) and _bindable(port):
            return port
    raise AssertionError("found no two consecutive free ports")


def test_two_simulators_side_by_side(tmp_path: Path, run_pycti: RunPycti) -> None:
    first = _free_pair()
    second = _free_pair(frozenset({first, first + 1}))

    with (
        pycti_sim("--channels", "2", "--port", str(first), cwd=tmp_path) as sim_a,
        pycti_sim("--channels", "2", "--port", str(second), cwd=tmp_path) as sim_b,
    ):
        assert f"file port: 127.0.0.1:{first + 1}" in sim_a.banner
        assert f"file port: 127.0.0.1:{second + 1}" in sim_b.banner
        serials = []
        for port in (first, second):
            # The client side follows the same rule: no --file-port means --port + 1.
            info = run_pycti("info", "--host", "127.0.0.1", "--port", str(port), "-f", "json")
            assert info.returncode == 0, info.stderr
            document = json.loads(info.stdout)
            assert document["file_port"] == port + 1
            serials.append(document["serial_number"])
            listing = run_pycti("files", "ls", "Work", "--host", "127.0.0.1", "--port", str(port))
            assert listing.returncode == 0, listing.stderr
            assert "Rest.sdx" in listing.stdout
    assert serials == [f"SIM{first:05d}", f"SIM{second:05d}"]
    assert f"serial SIM{first:05d}" in sim_a.banner[0]
    assert f"serial SIM{second:05d}" in sim_b.banner[0]


def test_a_busy_default_file_port_is_named_by_its_option(run_pycti: RunPycti) -> None:
    port = _free_pair()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port + 1))
        squatter.listen()

        result = run_pycti("sim", "--port", str(port), timeout=30)
        assert result.returncode == 3
        assert f"--file-port {port + 1} (default: --port + 1) on 127.0.0.1" in result.stderr
        assert "--no-file-port" in result.stderr

        explicit = run_pycti("sim", "--port", "0", "--file-port", str(port + 1), timeout=30)
        assert explicit.returncode == 3
        assert f"--file-port {port + 1} on 127.0.0.1" in explicit.stderr
        assert "(default" not in explicit.stderr

        control = run_pycti("sim", "--port", str(port + 1), "--no-file-port", timeout=30)
        assert control.returncode == 3
        assert f"--port {port + 1} on 127.0.0.1" in control.stderr


def test_the_serial_number_can_be_given(tmp_path: Path) -> None:
    options = ("--channels", "2", "--port", "0", "--serial-number", "LAB-7")
    with pycti_sim(*options, cwd=tmp_path) as sim:
        banner = sim.banner
        assert "serial LAB-7," in banner[0]
        assert banner[2].startswith("file port: 127.0.0.1:")
