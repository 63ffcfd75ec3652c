"""``dia lineage`` and ``dia rollup`` as a user runs them, and the family_rollup example."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIA = str(Path(sys.executable).with_name("dia"))


@pytest.fixture(scope="module")
def family_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The example's family (a diamond, an adapter, a card-only quantization) in a SQLite file."""
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from family_rollup import build_family
    finally:
        sys.path.pop(0)
    from dia.record.store import Store

    url = f"sqlite:///{tmp_path_factory.mktemp('cli')}/family.db"
    with Store(url) as store:
        build_family(store)
    return url


def _dia(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DIA_DATABASE_URL": url}
    return subprocess.run([DIA, *args], capture_output=True, text=True, env=env, timeout=120)


def test_rollup_json_has_the_documented_keys(family_db: str) -> None:
    proc = _dia(family_db, "rollup", "demo/base", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert list(doc)[:13] == ["model", "scope", "members", "with_report", "coverage", "coverage_by_quantity",
                              "energy_kwh", "carbon_kg", "water_l", "by_quality", "by_relation", "use", "imputed"]
    assert set(doc["coverage_by_quantity"]) == {"energy", "carbon", "water"}
    assert "rows" in doc and "imputed_totals" not in doc
    assert (doc["members"], doc["with_report"]) == (6, 5)
    assert doc["energy_kwh"]["value"] == pytest.approx(1101.6)
    assert set(doc["carbon_kg"]) == {"value", "low", "high"}
    assert set(doc["use"]) == {"energy_kwh", "carbon_kg", "water_l"} and doc["use"]["energy_kwh"]["value"] == 5.0
    assert doc["imputed"] is False


@pytest.mark.slow
def test_rollup_upstream_and_impute(family_db: str) -> None:
    doc = json.loads(_dia(family_db, "rollup", "demo/chat-gguf", "--scope", "upstream", "--impute", "--json").stdout)
    assert [r["model_id"] for r in doc["rows"]] == ["demo/chat-gguf", "demo/chat", "demo/base"]
    assert doc["imputed"] is True and doc["imputed_totals"]["carbon_kg"]["value"] > 0
    assert doc["carbon_kg"]["value"] == pytest.approx(416.0)  # disclosed only: base + chat
    text = _dia(family_db, "rollup", "demo/base", "--impute").stdout
    family = json.loads(_dia(family_db, "rollup", "demo/base", "--json").stdout)
    assert family["with_report"] / family["members"] == pytest.approx(0.83, abs=0.005)
    # a partial total is labelled a lower bound, with its coverage in members
    assert f"lower bound: {family['with_report']} of {family['members']} members reported" in text
    assert "imputed, NOT in the totals above" in text


@pytest.mark.slow
def test_lineage_tree_and_json(family_db: str) -> None:
    proc = _dia(family_db, "lineage", "demo/chat", "--depth", "1")
    assert proc.returncode == 0, proc.stderr
    assert "demo/chat-lora (adapter)" in proc.stdout and "demo/chat-gguf (quantization)  no report" in proc.stdout
    assert "demo/base" in proc.stdout and "demo/chat-code-merge" in proc.stdout
    doc = json.loads(_dia(family_db, "lineage", "demo/base", "--json", "--depth", "1").stdout)
    assert {n["model_id"] for n in doc["nodes"]} == {"demo/base", "demo/chat", "demo/code"}
    assert {"parent": "demo/base", "child": "demo/chat", "relation": "instruction-tuning", "method": None} in doc["edges"]


@pytest.mark.slow
def test_unknown_model_and_bad_scope_fail_on_one_line(family_db: str) -> None:
    for args in (("rollup", "demo/bsae"), ("lineage", "demo/bsae")):
        proc = _dia(family_db, *args)
        assert proc.returncode != 0 and proc.stdout == ""
        assert proc.stderr.strip() == "error: unknown model 'demo/bsae' (did you mean: demo/base, demo/code, demo/chat?)"
    proc = _dia(family_db, "rollup", "demo/base", "--scope", "sideways")
    assert proc.returncode != 0 and "--scope must be 'family' or 'upstream'" in proc.stderr


def test_family_rollup_example_runs(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "family_rollup.py")], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "demo/base: 6 members, 5 with a report (coverage 83%)" in proc.stdout
    assert "energy 1101.6 kWh" in proc.stdout
    assert "demo/chat-code-merge upstream: 4 members (base counted once), 440.0 kgCO2e" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # wrote nothing outside its temporary folder
