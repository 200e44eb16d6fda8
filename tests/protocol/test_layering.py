"""The protocol layer is sans-IO: it neither imports nor contains networking or concurrency."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pyctiarbin.protocol

FORBIDDEN = {"socket", "asyncio", "threading", "selectors", "ssl"}
PROTOCOL_DIR = Path(pyctiarbin.protocol.__file__).resolve().parent

PROBE = """
import json, sys
before = set(sys.modules)
import pyctiarbin.protocol
after = set(sys.modules)
print(json.dumps({
    "before": sorted(before),
    "new": sorted(after - before),
}))
"""


def probe_fresh_interpreter() -> dict[str, list[str]]:
    # -I: no PYTHON* variables, no user site, no current directory on sys.path.
    result = subprocess.run(
        [sys.executable, "-I", "-c", PROBE], capture_output=True, text=True, check=True
    )
    loaded: dict[str, list[str]] = json.loads(result.stdout)
    return loaded


def top_level(name: str) -> str:
    return name.split(".", 1)[0]


def test_importing_the_protocol_loads_no_networking_or_concurrency_module() -> None:
    loaded = probe_fresh_interpreter()
    assert "pyctiarbin.protocol" in loaded["new"]
    # A bare interpreter does not load them either, so the check below is meaningful.
    assert not FORBIDDEN & {top_level(name) for name in loaded["before"]}
    offenders = sorted(name for name in loaded["new"] if top_level(name) in FORBIDDEN)
    assert offenders == []
    # Nor the client, the simulator or anything else of ours above the protocol.
    ours = {name for name in loaded["new"] if top_level(name) == "pyctiarbin"}
    above = sorted(
        name
        for name in ours
        if name not in ("pyctiarbin", "pyctiarbin.errors")
        and not name.startswith("pyctiarbin.protocol")
    )
    assert above == []
    assert {"pyctiarbin.protocol.framing", "pyctiarbin.protocol.messages"} <= ours


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, statically, at any depth (functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Call):
            # importlib.import_module("x") / __import__("x") would hide an import from the above.
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__"):
                names.add("<dynamic import>")
    return names


def protocol_sources() -> list[Path]:
    files = sorted(PROTOCOL_DIR.glob("*.py"))
    # errors.py is part of the protocol's import closure (see the test above).
    return [*files, PROTOCOL_DIR.parent / "errors.py"]


def test_protocol_sources_import_no_networking_or_concurrency_module() -> None:
    files = protocol_sources()
    assert {path.name for path in files} >= {
        "__init__.py",
        "codes.py",
        "fields.py",
        "framing.py",
        "messages.py",
        "errors.py",
    }
    for path in files:
        modules = imported_modules(path)
        assert "<dynamic import>" not in modules, f"{path.name} imports dynamically"
        bad = sorted(m for m in modules if top_level(m) in FORBIDDEN)
        assert bad == [], f"{path.name} imports {bad}"


def test_the_static_check_would_see_an_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import socket\n    from asyncio import sleep\n")
    assert {"socket", "asyncio"} <= imported_modules(sample)
    sample.write_text("import importlib\nimportlib.import_module('ssl')\n")
    assert "<dynamic import>" in imported_modules(sample)
