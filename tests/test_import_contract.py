"""The layer diagram of DESIGN.md, enforced: every module of pyctiarbin imports only its own
layer or the layers below it.

Imports are read from the source with :mod:`ast`, at any depth (an import inside a function, or
under ``if TYPE_CHECKING``, is still a dependency), and so are ``importlib.import_module`` and
``runpy.run_module`` calls with a literal name, so an upward import cannot hide from it. Every
module is checked, ``__main__`` modules included: a program inside a package belongs to that
package's layer, like the rest of the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

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
    # A program (`make demo`) that runs the dashboard too, so above web; it needs no command
    # line of pycti, so below the CLI, and nothing imports it.
    ("demo", frozenset({"demo"})),
    ("cli", frozenset({"cli"})),
)
RANK = {part: rank for rank, (_, parts) in enumerate(LAYERS) for part in parts}
LAYER_NAME = {part: name for name, parts in LAYERS for part in parts}

# Calls that import the module named by their first argument.
_IMPORTING_CALLS = frozenset({"import_module", "run_module", "__import__"})


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


def _called_name(node: ast.Call) -> str:
    function = node.func
    if isinstance(function, ast.Attribute):
        return function.attr
    return function.id if isinstance(function, ast.Name) else ""


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
                imported = ".".join([*base, node.module] if node.module else base)
            else:
                imported = node.module or ""
            if imported.split(".")[0] != "pyctiarbin":
                continue
            # `from .. import sinks` imports the module pyctiarbin.sinks, not the package.
            for alias in node.names:
                submodule = f"{imported}.{alias.name}"
                found.add(submodule if is_module(submodule) else imported)
        elif isinstance(node, ast.Call) and _called_name(node) in _IMPORTING_CALLS:
            first = node.args[0] if node.args else None
            literal = first.value if isinstance(first, ast.Constant) else None
            if isinstance(literal, str) and literal.split(".")[0] == "pyctiarbin":
                found.add(literal)
    return found


def part_of(module: str) -> str:
    """The top-level part of the package a module belongs to (``""`` for the root)."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else ""


def is_entry_point(module: str) -> bool:
    return module.rsplit(".", 1)[-1] == "__main__"


def sources() -> list[Path]:
    return sorted(PACKAGE_DIR.rglob("*.py"))


def upward_imports(path: Path, source: str | None = None) -> list[str]:
    """What the module at ``path`` (or ``source``, read as that module) imports from a layer
    above its own, one line each."""
    importer = module_name(path)
    low = part_of(importer)
    problems = []
    for imported in sorted(imports_of(path, source)):
        high = part_of(imported)
        if RANK[high] > RANK[low]:
            problems.append(
                f"{importer} ({LAYER_NAME[low]}) imports {imported} ({LAYER_NAME[high]})"
            )
    return problems


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {part_of(module_name(path)) for path in sources()}
    assert parts - RANK.keys() == set(), "place the new module in LAYERS"
    assert RANK.keys() - parts == set(), "a layer names a module that does not exist"


@pytest.mark.parametrize(
    "path", sources(), ids=lambda path: module_name(path).partition(".")[2] or "pyctiarbin"
)
def test_no_module_imports_a_layer_above_its_own(path: Path) -> None:
    assert upward_imports(path) == []


def test_nothing_imports_an_entry_point() -> None:
    offenders = [
        f"{module_name(path)} imports {imported}"
        for path in sources()
        for imported in imports_of(path)
        if is_entry_point(imported)
    ]
    assert offenders == []


def test_the_check_sees_function_level_relative_and_dynamic_imports() -> None:
    # Read as if it were pyctiarbin/logger/probe.py (the file need not exist).
    probe = PACKAGE_DIR / "logger" / "probe.py"
    source = (
        "import importlib\n"
        "from ..protocol import decode\n"
        "from .. import errors\n"
        "from .sinks import open_sink\n"
        "def f():\n"
        "    from ..cli import common\n"
        "    import pyctiarbin.web.server\n"
        "    importlib.import_module('pyctiarbin.demo')\n"
    )
    assert imports_of(probe, source) == {
        "pyctiarbin.protocol",
        "pyctiarbin.errors",
        "pyctiarbin.logger.sinks",
        "pyctiarbin.cli.common",
        "pyctiarbin.web.server",
        "pyctiarbin.demo",
    }


# One planted upward import per boundary of the diagram, each read as a module of the lower
# layer: the check must name every one.
PLANTED = [
    ("errors.py", "from .protocol import decode\n", "pyctiarbin.protocol"),
    ("protocol/probe.py", "from ..simulator import Simulator\n", "pyctiarbin.simulator"),
    ("simulator/probe.py", "from ..client import CyclerClient\n", "pyctiarbin.client"),
    ("client/probe.py", "from .. import CyclerInterface\n", "pyctiarbin"),
    ("interfaces/probe.py", "from ..logger import Logger\n", "pyctiarbin.logger"),
    ("plan/probe.py", "def f():\n    from ..web import app\n", "pyctiarbin.web.app"),
    ("web/probe.py", "import pyctiarbin.demo\n", "pyctiarbin.demo"),
    ("demo.py", "from .cli import run\n", "pyctiarbin.cli"),
    # A program inside a lower package is no exception: this was logger/__main__.py.
    ("logger/__main__.py", "from ..cli import run\n", "pyctiarbin.cli"),
    ("logger/probe.py", "import runpy\nrunpy.run_module('pyctiarbin.cli')\n", "pyctiarbin.cli"),
]


@pytest.mark.parametrize(("where", "source", "imported"), PLANTED)
def test_a_planted_upward_import_is_caught(where: str, source: str, imported: str) -> None:
    problems = upward_imports(PACKAGE_DIR / where, source)
    assert len(problems) == 1
    assert f" imports {imported} (" in problems[0]


def test_imports_within_a_layer_or_downwards_pass() -> None:
    # The same reading, on imports the diagram allows.
    allowed = [
        ("cli/probe.py", "from ..web.server import RunningServer\nfrom ..protocol import decode\n"),
        ("alerts/probe.py", "from ..logger import Logger\nfrom ..plan import load_plan\n"),
        ("client/probe.py", "from ..simulator import Simulator\nfrom ..shared import tomllib\n"),
        ("protocol/probe.py", "from ..errors import ProtocolError\n"),
    ]
    for where, source in allowed:
        assert imports_of(PACKAGE_DIR / where, source), where
        assert upward_imports(PACKAGE_DIR / where, source) == [], where
