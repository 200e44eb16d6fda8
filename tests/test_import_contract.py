"""The layer diagram of DESIGN.md, enforced: every module of pyctiarbin imports only its own
layer or the layers below it.

Imports are read from the source with :mod:`ast`, at any depth (an import inside a function, or
under ``if TYPE_CHECKING``, is still a dependency), so an upward import cannot hide from it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pyctiarbin

PACKAGE_DIR = Path(pyctiarbin.__file__).resolve().parent

# Bottom first. DESIGN.md draws cli/ > web/ > lab tools > interfaces > client/ > simulator/ >
# protocol/; the rows below place every top-level module of the package in that picture.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    # Imported by the protocol itself, so below it; stdlib only.
    ("foundation", frozenset({"errors", "credentials", "shared"})),
    ("protocol", frozenset({"protocol"})),
    ("simulator", frozenset({"simulator"})),
    ("client", frozenset({"client"})),
    # The seed's API and the package root, which re-exports the clients and the interfaces.
    (
        "interfaces",
        frozenset({"", "interfaces", "arbinspoofer", "channel_interface", "cycler_interface"}),
    ),
    (
        "lab tools",
        frozenset(
            {
                "config",
                "logger",
                "alerts",
                "control",
                "plan",
                "data",
                "plot",
                "status_formats",
            }
        ),
    ),
    ("web", frozenset({"web"})),
    # `make demo` runs the dashboard too, so it sits above web, but below the CLI.
    ("demo", frozenset({"demo"})),
    ("cli", frozenset({"cli"})),
)
RANK = {part: rank for rank, (_, parts) in enumerate(LAYERS) for part in parts}
LAYER_NAME = {part: name for name, parts in LAYERS for part in parts}


def module_name(path: Path) -> str:
    """``.../pyctiarbin/logger/sinks/base.py`` -> ``pyctiarbin.logger.sinks.base``."""
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:]) if "." in name else Path()
    target = PACKAGE_DIR / relative
    return target.with_suffix(".py").is_file() or (target / "__init__.py").is_file()


def imports_of(path: Path, source: str | None = None) -> set[str]:
    """Every pyctiarbin module that the file at ``path`` (or ``source``, as if it were that file)
    imports, at any depth."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    text = path.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(text, filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = (alias.name for alias in node.names)
            found.update(name for name in names if name.split(".")[0] == "pyctiarbin")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            if source.split(".")[0] != "pyctiarbin":
                continue
            # `from .. import sinks` imports the module pyctiarbin.sinks, not the package.
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if is_module(submodule) else source)
    return found


def part_of(module: str) -> str:
    """The top-level part of the package a module belongs to (``""`` for the root)."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else ""


def is_entry_point(module: str) -> bool:
    # `python -m pyctiarbin.logger` is a program, like `pycti`: nothing imports a __main__.
    return module.rsplit(".", 1)[-1] == "__main__"


def sources() -> list[Path]:
    return sorted(PACKAGE_DIR.rglob("*.py"))


def upward_imports() -> list[str]:
    problems = []
    for path in sources():
        importer = module_name(path)
        if is_entry_point(importer):
            continue
        for imported in sorted(imports_of(path)):
            low, high = part_of(importer), part_of(imported)
            if RANK[high] > RANK[low]:
                problems.append(
                    f"{importer} ({LAYER_NAME[low]}) imports {imported} ({LAYER_NAME[high]})"
                )
    return problems


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {part_of(module_name(path)) for path in sources()}
    assert parts - RANK.keys() == set(), "place the new module in LAYERS"
    assert RANK.keys() - parts == set(), "a layer names a module that does not exist"


def test_no_module_imports_a_layer_above_its_own() -> None:
    assert upward_imports() == []


def test_nothing_imports_an_entry_point() -> None:
    offenders = [
        f"{module_name(path)} imports {imported}"
        for path in sources()
        for imported in imports_of(path)
        if is_entry_point(imported)
    ]
    assert offenders == []


def test_the_check_sees_function_level_and_relative_imports() -> None:
    # Read as if it were pyctiarbin/logger/probe.py (the file need not exist).
    probe = PACKAGE_DIR / "logger" / "probe.py"
    source = (
        "from ..protocol import decode\n"
        "from .. import errors\n"
        "from .sinks import open_sink\n"
        "def f():\n"
        "    from ..cli import app\n"
        "    import pyctiarbin.web.server\n"
    )
    assert imports_of(probe, source) == {
        "pyctiarbin.protocol",
        "pyctiarbin.errors",
        "pyctiarbin.logger.sinks",
        "pyctiarbin.cli.app",
        "pyctiarbin.web.server",
    }
    assert RANK[part_of("pyctiarbin.cli.app")] > RANK[part_of(module_name(probe))]
