"""DIA supports Python 3.10-3.13: no module may need a newer standard library at import time.

``import tomllib`` at module level once made ``import dia`` fail on 3.10 while the tests
ran green on 3.11. The scan below reads every module of the package (AST, so it runs on any
interpreter) and fails on a 3.11+ standard-library name used outside a
``sys.version_info`` / ``try: ... except ImportError`` guard. ``make test`` also imports
every module on each interpreter found on the machine (``nox -s core``).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import dia

_ROOT = Path(__file__).resolve().parents[1]
_PACKAGES = [_ROOT / "dia", _ROOT / "integrations", _ROOT / "dashboard"]

# Standard-library modules and names that are missing on Python 3.10.
_NEW_MODULES = {"tomllib": "3.11", "wsgiref.types": "3.11"}
_NEW_NAMES = {
    ("typing", "Self"): "3.11",
    ("typing", "LiteralString"): "3.11",
    ("typing", "Never"): "3.11",
    ("typing", "assert_never"): "3.11",
    ("typing", "reveal_type"): "3.11",
    ("typing", "Required"): "3.11",
    ("typing", "NotRequired"): "3.11",
    ("typing", "TypeVarTuple"): "3.11",
    ("typing", "Unpack"): "3.11",
    ("typing", "dataclass_transform"): "3.11",
    ("typing", "override"): "3.12",
    ("typing", "TypeAliasType"): "3.12",
    ("typing", "ReadOnly"): "3.13",
    ("typing", "TypeIs"): "3.13",
    ("datetime", "UTC"): "3.11",
    ("enum", "StrEnum"): "3.11",
    ("enum", "verify"): "3.11",
    ("itertools", "batched"): "3.12",
    ("warnings", "deprecated"): "3.13",
    ("asyncio", "TaskGroup"): "3.11",
    ("asyncio", "timeout"): "3.11",
}


def _is_guard(node: ast.AST) -> bool:
    """``if sys.version_info ...:`` or ``try: ... except ImportError``: a deliberate fallback."""
    if isinstance(node, ast.If):
        return "version_info" in ast.unparse(node.test)
    if isinstance(node, ast.Try):
        for handler in node.handlers:
            names = ast.unparse(handler.type) if handler.type else ""
            if "ImportError" in names or "ModuleNotFoundError" in names:
                return True
    return False


def _unguarded_nodes(tree: ast.Module) -> list[ast.AST]:
    """All nodes except those under a version/import guard."""
    found: list[ast.AST] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        if not _is_guard(node):
            todo.extend(ast.iter_child_nodes(node))
    return found


def _problems(source: str, where: str) -> list[str]:
    out: list[str] = []
    for node in _unguarded_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in _NEW_MODULES:
                    out.append(f"{where}:{node.lineno}: import {alias.name} "
                               f"(Python {_NEW_MODULES[alias.name]}+)")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in _NEW_MODULES:
                out.append(f"{where}:{node.lineno}: from {node.module} import ... "
                           f"(Python {_NEW_MODULES[node.module]}+)")
            for alias in node.names:
                since = _NEW_NAMES.get((node.module, alias.name))
                if since:
                    out.append(f"{where}:{node.lineno}: from {node.module} import "
                               f"{alias.name} (Python {since}+)")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            since = _NEW_NAMES.get((node.value.id, node.attr))
            if since:
                out.append(f"{where}:{node.lineno}: {node.value.id}.{node.attr} (Python {since}+)")
        elif type(node).__name__ in {"TypeAlias", "TypeVar", "ParamSpec", "TypeVarTuple"}:
            # PEP 695 syntax (3.12+): a 3.10 interpreter cannot even parse the module.
            out.append(f"{where}:{getattr(node, 'lineno', '?')}: PEP 695 syntax (Python 3.12+)")
        elif isinstance(node, getattr(ast, "TryStar", ())):
            out.append(f"{where}:{node.lineno}: except* (Python 3.11+)")
    return out


def test_no_module_needs_a_python_newer_than_3_10() -> None:
    problems: list[str] = []
    for package in _PACKAGES:
        for path in sorted(package.rglob("*.py")):
            where = str(path.relative_to(_ROOT))
            problems += _problems(path.read_text(encoding="utf-8"), where)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "source",
    [
        "import tomllib\n",
        "def f():\n    import tomllib\n",
        "from typing import Self\n",
        "import datetime\nx = datetime.UTC\n",
        "try:\n    import tomllib\nexcept KeyError:\n    pass\n",
    ],
)
def test_the_scan_catches_3_11_only_code(source: str) -> None:
    assert _problems(source, "m.py")


@pytest.mark.parametrize(
    "source",
    [
        "import sys\nif sys.version_info >= (3, 11):\n    import tomllib\n"
        "else:\n    import tomli as tomllib\n",
        "try:\n    import tomllib\nexcept ModuleNotFoundError:\n    import tomli as tomllib\n",
        "from typing_extensions import Self\n",
    ],
)
def test_the_scan_accepts_guarded_fallbacks(source: str) -> None:
    assert not _problems(source, "m.py")


def test_every_core_module_imports() -> None:
    """Run on each interpreter by ``nox -s core``: imports every module of ``dia`` that needs
    no extra (the Python-version twin of the scan above)."""
    failures: list[str] = []
    for info in pkgutil.walk_packages(dia.__path__, prefix="dia.", onerror=failures.append):
        if info.name.startswith(("dia.integrations", "dia.dashboard")):
            continue  # need torch / lightning / transformers / streamlit extras
        try:
            importlib.import_module(info.name)
        except ImportError as exc:
            missing = getattr(exc, "name", None) or ""
            if missing.split(".")[0] in _EXTRAS:
                continue
            failures.append(f"{info.name}: {exc!r}")
    assert not failures, "\n".join(failures)


# Top-level packages installed by an extra, not by ``pip install dia``.
_EXTRAS = {"torch", "lightning", "transformers", "accelerate", "streamlit", "plotly",
           "pyarrow", "psycopg", "playwright"}
