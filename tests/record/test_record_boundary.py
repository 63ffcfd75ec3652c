"""The store owns every query: nothing outside dia/record reaches into its SQL or private names.

ruff's banned-api rule (pyproject) keeps ``sqlmodel`` and ``sqlalchemy`` imports inside
dia/record; this test catches what a linter cannot: private names imported from
``dia.record`` and private store methods called from outside.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("dia", "integrations", "dashboard", "benchmarks", "examples")
PRIVATE_STORE_ATTRS = {"_session", "_run_row", "_core_rows", "_upsert", "_upsert_many", "_ensure_model",
                       "_add_edge", "_path_up", "_write_engine"}
BANNED_MODULES = ("sqlmodel", "sqlalchemy")


def violations(source: str, *, inside_record: bool = False) -> list[str]:
    """What one module does that only dia/record may do, one line each."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("dia.record") and not inside_record:
                found += [f"line {node.lineno}: from {node.module} import {a.name}"
                          for a in node.names if a.name.startswith("_")]
            if node.module.split(".")[0] in BANNED_MODULES and not inside_record:
                found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import) and not inside_record:
            found += [f"line {node.lineno}: import {a.name}" for a in node.names
                      if a.name.split(".")[0] in BANNED_MODULES]
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_STORE_ATTRS and not inside_record:
            found.append(f"line {node.lineno}: .{node.attr}")
    return found


def _modules() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py") if ".venv" not in p.parts)


def test_nothing_outside_dia_record_touches_its_sql_or_private_names() -> None:
    record = ROOT / "dia" / "record"
    problems = []
    for path in _modules():
        if record in path.parents:
            continue
        problems += [f"{path.relative_to(ROOT)}: {v}" for v in violations(path.read_text(encoding="utf-8"))]
    assert problems == []


@pytest.mark.parametrize("source", [
    "from dia.record.store import Store, _run_row",
    "from sqlmodel import col",
    "import sqlalchemy.orm",
    "with store._session() as s: pass",
    "rows = store._core_rows(stmt)",
])
def test_the_check_catches_each_kind_of_leak(source: str) -> None:
    assert len(violations(source)) == 1


def test_the_check_allows_the_public_api() -> None:
    assert violations("from dia.record.store import Store, ModelRecord\nstore.bulk_save([])\n") == []
