"""Issue case 7: a figure that nobody disclosed is "not disclosed", never 0.

A card without energy is stored with an ``unavailable`` 0 kWh energy and no water; the
rollup used to add those zeros up and print ``energy 0 kWh``. Real card files go through
``dia ingest`` and come out of ``dia rollup`` / ``dia lineage`` as users run them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from factories import run_report
from typer.testing import CliRunner

from dia.aggregate.fast import all_totals
from dia.aggregate.rollup import rollup
from dia.cli.main import app
from dia.record.store import Store

DIA = str(Path(sys.executable).with_name("dia"))
# Hub cards state grams; only the fine-tune with energy_consumed discloses energy.
BASE = "---\nco2_eq_emissions: 500\n---\n# base\n"
CHAT = "---\nbase_model: fam/base\nbase_model_relation: finetune\nco2_eq_emissions: 300\n---\n"
CODE = ("---\nbase_model: fam/base\nbase_model_relation: finetune\nco2_eq_emissions:\n"
        "  emissions: 200\n  energy_consumed: 3.2\n---\n")


def _cards(root: Path, cards: dict[str, str]) -> Path:
    for model_id, text in cards.items():
        path = root / model_id / "README.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _dia(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _ingested(root: Path, cards: dict[str, str]) -> str:
    root.mkdir()
    db = f"sqlite:///{root}/cards.sqlite"
    _dia("ingest", str(_cards(root / "cards", cards)), "--db", db)
    return db


@pytest.fixture
def carbon_only(tmp_path: Path) -> str:
    """Case 7 as filed: a family whose cards give co2_eq_emissions only."""
    return _ingested(tmp_path / "carbon-only", {"fam/base": BASE, "fam/chat": CHAT})


@pytest.fixture
def mixed(tmp_path: Path) -> str:
    """One member of three discloses energy."""
    return _ingested(tmp_path / "mixed", {"fam/base": BASE, "fam/chat": CHAT, "fam/code": CODE})


def test_carbon_only_cards_give_null_energy_not_zero(carbon_only: str) -> None:
    doc = json.loads(_dia("rollup", "fam/base", "--json", "--db", carbon_only))
    assert doc["energy_kwh"] is None and doc["water_l"] is None
    assert doc["coverage_by_quantity"] == {"energy": 0.0, "carbon": 1.0, "water": 0.0}
    assert doc["coverage"] == 1.0  # every member has a report, as before
    assert doc["carbon_kg"]["value"] == pytest.approx((500 + 300) / 1000)
    for row in doc["rows"]:
        assert row["has_report"] and row["energy_kwh"] is None and row["water_l"] is None
        assert row["carbon_kg"]["value"] > 0
    assert all(figure is None for figure in doc["use"].values())  # no inference runs: nothing disclosed


def test_one_member_disclosing_energy_gives_the_partial_sum_and_its_coverage(mixed: str) -> None:
    doc = json.loads(_dia("rollup", "fam/base", "--json", "--db", mixed))
    assert doc["members"] == 3
    assert doc["energy_kwh"] == {"value": pytest.approx(3.2), "low": pytest.approx(3.2), "high": pytest.approx(3.2)}
    assert doc["coverage_by_quantity"]["energy"] == pytest.approx(1 / 3)
    assert doc["coverage_by_quantity"]["carbon"] == 1.0
    rows = {r["model_id"]: r for r in doc["rows"]}
    assert rows["fam/code"]["energy_kwh"]["value"] == pytest.approx(3.2)
    assert rows["fam/base"]["energy_kwh"] is None and rows["fam/chat"]["energy_kwh"] is None


def test_rollup_text_says_not_disclosed_and_never_zero(carbon_only: str, mixed: str) -> None:
    text = _dia("rollup", "fam/base", "--db", carbon_only)
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ") and line.split()}
    assert lines["energy"].split(None, 1)[1] == "not disclosed"
    assert lines["water"].split(None, 1)[1] == "not disclosed"
    assert "0 kWh" not in text and "0 L" not in text
    partial = _dia("rollup", "fam/base", "--db", mixed)
    assert "3.2 kWh" in partial and "(disclosed by 1 of 3)" in partial


def test_lineage_shows_not_disclosed_per_member(carbon_only: str) -> None:
    text = _dia("lineage", "fam/base", "--db", carbon_only)
    assert "energy not disclosed" in text and "water not disclosed" in text and "0 kWh" not in text
    doc = json.loads(_dia("lineage", "fam/base", "--json", "--db", carbon_only))
    for node in doc["nodes"]:
        assert node["has_report"] and node["energy_kwh"] is None and node["carbon_kg"] is not None


def test_impute_keeps_its_totals_apart_and_energy_stays_not_disclosed(tmp_path: Path) -> None:
    db = _ingested(tmp_path / "impute", {"fam/base": BASE, "fam/chat": CHAT,
                              "fam/silent": "---\nbase_model: fam/base\nbase_model_relation: finetune\n---\n"})
    doc = json.loads(_dia("rollup", "fam/base", "--impute", "--json", "--db", db))
    silent = next(r for r in doc["rows"] if r["model_id"] == "fam/silent")
    assert not silent["has_report"] and silent["quality"] == "imputed"
    assert doc["imputed_totals"]["energy_kwh"]["value"] == pytest.approx(silent["imputed_energy_kwh"]["value"])
    assert doc["energy_kwh"] is None  # an imputed prior never fills the disclosed total
    text = _dia("rollup", "fam/base", "--impute", "--db", db)
    assert "imputed, NOT in the totals above" in text and "not disclosed" in text


def test_upstream_card_block_writes_null_for_an_undisclosed_figure(carbon_only: str, tmp_path: Path) -> None:
    meta = json.loads(_dia("card", "fam/chat", "--upstream", "--json", "--db", carbon_only))
    up = meta["dia"]["upstream_cumulative"]
    assert up["energy_kwh"] is None and up["water_l"] is None
    assert up["carbon_kg"]["value"] == pytest.approx(0.8)
    readme = tmp_path / "out" / "README.md"
    _dia("card", "fam/chat", "--upstream", "--write", str(readme), "--db", carbon_only)
    assert "Cumulative with its ancestors" in readme.read_text(encoding="utf-8")


def test_fast_path_gives_none_for_an_undisclosed_family_figure(mixed: str, carbon_only: str) -> None:
    with Store(carbon_only) as store:
        fam = all_totals(store)["fam/base"]
    assert fam["energy_kwh"] is None and fam["energy_kwh_high"] is None and fam["water_l"] is None
    assert fam["energy_disclosed"] == 0 and fam["carbon_disclosed"] == 2
    assert fam["carbon_kg"] == pytest.approx(0.8)
    with Store(mixed) as store:
        fam = all_totals(store)["fam/base"]
        slow = rollup("fam/base", store=store)
    assert slow.energy_kwh is not None
    assert fam["energy_kwh"] == pytest.approx(slow.energy_kwh.value) and fam["energy_disclosed"] == 1


def test_a_measured_zero_is_disclosed_and_stays_zero(store_url: str) -> None:
    # Disclosed = a quality other than unavailable, not a value above zero (both backends).
    with Store(store_url) as store:
        store.save_runs([run_report("o/idle", energy_kwh=0.0, quality="measured"),
                         run_report("o/card", energy_kwh=0.0, quality="unavailable", carbon_kg=0.5,
                                    carbon_quality="reported", parents=[("o/idle", "finetune")])])
        r = rollup("o/idle", store=store)
        totals = store.model_totals()
        countries = store.by_country()
    assert r.energy_kwh is not None and r.energy_kwh.value == 0.0
    assert r.coverage_by_quantity == {"energy": 0.5, "carbon": 0.5, "water": 0.0}
    assert r.carbon_kg is not None and r.water_l is None
    assert totals["o/idle"].discloses("energy_kwh") and not totals["o/idle"].discloses("carbon_kg")
    assert not totals["o/card"].discloses("energy_kwh") and totals["o/card"].discloses("carbon_kg")
    assert [row[4] for row in countries] == [None]  # no run disclosed water


def test_a_store_from_before_the_quality_columns_still_reads_and_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    url = f"sqlite:///{path}"
    with Store(url) as store:
        store.save_runs([run_report("o/a", energy_kwh=2.0, carbon_kg=1.0),
                         run_report("o/b", energy_kwh=0.0, quality="unavailable", carbon_kg=0.5,
                                    carbon_quality="reported", parents=[("o/a", "finetune")])])
    con = sqlite3.connect(path)  # the table as an older DIA made it
    con.execute("ALTER TABLE dia_runs DROP COLUMN energy_quality")
    con.execute("ALTER TABLE dia_runs DROP COLUMN water_quality")
    con.commit()
    con.close()
    with Store(url, read_only=True) as old:  # read-only: no upgrade, figures read by value
        r = rollup("o/a", store=old)
    assert r.energy_kwh is not None and r.energy_kwh.value == pytest.approx(2.0)
    assert r.coverage_by_quantity["energy"] == 0.5 and r.water_l is None
    with Store(url) as store:  # writable: the columns come back (NULL in the old rows)
        store.save_run(run_report("o/c", energy_kwh=0.0, quality="unavailable", carbon_kg=0.1,
                                  carbon_quality="reported", parents=[("o/a", "finetune")]))
        r = rollup("o/a", store=store)
    assert r.coverage_by_quantity == {"energy": pytest.approx(1 / 3), "carbon": 1.0, "water": 0.0}
    con = sqlite3.connect(path)
    assert {"energy_quality", "water_quality"} <= {row[1] for row in con.execute("PRAGMA table_info(dia_runs)")}
    con.close()


def test_not_disclosed_output_fits_80_columns(mixed: str) -> None:
    # stdout is a pipe: Rich falls back to COLUMNS, as in `dia rollup | cat`. The heading
    # line soft-wraps on purpose (the model id is never cut): the figure lines must fit.
    env = {**os.environ, "DIA_DATABASE_URL": mixed, "COLUMNS": "80"}
    env.pop("FORCE_COLOR", None)
    for args in (("rollup", "fam/base"), ("rollup", "fam/base", "--impute"), ("lineage", "fam/base")):
        proc = subprocess.run([DIA, *args], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        mine = [line for line in proc.stdout.splitlines() if "disclosed" in line and "with a report" not in line]
        assert mine and max(len(line) for line in mine) <= 80, proc.stdout


@pytest.mark.parametrize("card_format", ["hf", "dia-v0.1", "both"])
def test_a_card_dia_writes_never_turns_not_disclosed_into_a_stated_zero(tmp_path: Path, card_format: str) -> None:
    runner = CliRunner()
    first, second = f"sqlite:///{tmp_path}/first.sqlite", f"sqlite:///{tmp_path}/second.sqlite"
    assert runner.invoke(app, ["ingest", str(_cards(tmp_path / "in", {"fam/base": BASE})), "--db", first]).exit_code == 0
    out = tmp_path / "out" / "fam" / "base" / "README.md"
    written = runner.invoke(app, ["card", "fam/base", "--write", str(out), "--format", card_format, "--db", first])
    assert written.exit_code == 0, written.output
    text = out.read_text(encoding="utf-8")
    assert "energy_consumed" not in text and "energy_kwh" not in text
    if card_format != "dia-v0.1":
        assert "| Energy (IT) | not disclosed |" in text and "0 kWh" not in text
    # Read back elsewhere, energy is still not disclosed (not a reported 0).
    assert runner.invoke(app, ["ingest", str(tmp_path / "out"), "--db", second]).exit_code == 0
    family = json.loads(runner.invoke(app, ["rollup", "fam/base", "--json", "--db", second]).output)
    assert family["energy_kwh"] is None and family["coverage_by_quantity"]["energy"] == 0
    assert family["carbon_kg"]["value"] == pytest.approx(0.5)
