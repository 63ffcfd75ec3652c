"""Issue 14, case 6: units in cards. A ``unit``/``units`` key beside ``emissions`` is honoured;
an ambiguous or unknown unit is refused (figures not read, lineage kept), never guessed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dia.cli.main import app
from dia.errors import CardError
from dia.hub.formats import card_run_id
from dia.hub.formats.hf import parse_emissions_g, parse_energy_kwh
from dia.record.report import RunReport
from dia.record.store import Store


def _card(root: Path, model_id: str, text: str) -> Path:
    folder = root / model_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


def _ingest(root: Path, db: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["ingest", str(root), "--db", db, "--json"])
    return result.exit_code, json.loads(result.stdout)


def _ingested_report(tmp_path: Path, card_text: str) -> RunReport:
    """The run stored from one card org/m ingested through the CLI (which must succeed)."""
    _card(tmp_path / "cards", "org/m", card_text)
    db = f"sqlite:///{tmp_path}/s.sqlite"
    code, summary = _ingest(tmp_path / "cards", db)
    assert code == 0, summary
    with Store(db) as store:
        report = store.get_run(card_run_id("org/m"))
    assert report is not None and report.carbon is not None
    return report


def test_unit_key_beside_emissions_is_honoured(tmp_path: Path) -> None:
    # Before: the unit key landed in `extra` and 500 was read as grams (0.5 kg).
    report = _ingested_report(tmp_path, "---\nco2_eq_emissions: {emissions: 500, unit: kg}\n---\n")
    assert report.carbon is not None
    assert report.carbon.total_kg.value == pytest.approx(500.0)
    assert "unit" not in report.extra.get("co2_eq_emissions", {})


def test_ambiguous_unit_is_refused_with_one_line_and_the_lineage_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "cards"
    _card(root, "org/m", "---\nbase_model: org/base\nco2_eq_emissions: {emissions: 3, unit: tons}\n---\n")
    _card(root, "org/ok", "---\nco2_eq_emissions: 10\n---\n")
    db = f"sqlite:///{tmp_path}/s.sqlite"
    result = CliRunner().invoke(app, ["ingest", str(root), "--db", db])
    assert result.exit_code == 1
    assert ("org/m/README.md: co2_eq_emissions.unit: ambiguous unit 'tons' (write g, kg or t): figures not read"
            in " ".join(result.output.split()))
    with Store(db) as store:
        assert store.get_run(card_run_id("org/m")) is None  # no guessed figure
        assert store.get_run(card_run_id("org/ok")) is not None  # the good card is still stored
        assert [(e.child_id, e.parent_id) for e in store.edges()] == [("org/m", "org/base")]


def test_a_card_fixed_to_an_ambiguous_unit_keeps_what_was_stored(tmp_path: Path) -> None:
    root = tmp_path / "cards"
    db = f"sqlite:///{tmp_path}/s.sqlite"
    _card(root, "org/m", "---\nbase_model: org/base\nco2_eq_emissions: 2000\n---\n")
    assert _ingest(root, db)[0] == 0
    _card(root, "org/m", "---\nbase_model: org/base\nco2_eq_emissions: 2 Mt\n---\n")
    code, summary = _ingest(root, db)
    assert code == 1
    assert summary["skipped"] == [{"file": "org/m/README.md", "reason":
                                   "co2_eq_emissions.emissions: ambiguous unit 'Mt' (write g, kg or t): figures not read"}]
    with Store(db) as store:
        report = store.get_run(card_run_id("org/m"))
        assert report is not None and report.carbon is not None
        assert report.carbon.total_kg.value == pytest.approx(2.0)  # nothing already stored is lost


@pytest.mark.parametrize(("emissions", "unit", "grams"), [
    (500, "kg", 500_000.0), (500, "KG", 500_000.0), (1.5, "t", 1.5e6), (1.5, "tonnes", 1.5e6),
    (2, "tCO2e", 2e6), (3, "kgCO2eq", 3000.0), (7, "g", 7.0), (7, "g CO2e", 7.0), ("4", "kg", 4000.0),
    ("4 kg", "kg", 4000.0), ("4 kgCO2e", "KG", 4000.0), (1, "metric tons", 1e6),
])
def test_unit_keys_and_strings_are_read(emissions: object, unit: str, grams: float) -> None:
    assert parse_emissions_g(emissions, "x", unit) == pytest.approx(grams)


@pytest.mark.parametrize("unit", ["Mt", "mt", "MT", "ton", "tons", "Tons CO2e", "lb", "lbs", "pounds", "kilotons",
                                  "megagrams", "furlongs"])
def test_ambiguous_and_unknown_units_are_refused_not_guessed(unit: str) -> None:
    # Before: "tons" and "mt" were silently read as metric tonnes.
    with pytest.raises(CardError, match=r"(ambiguous|unknown) unit .*write g, kg or t.*figures not read"):
        parse_emissions_g(3, "card: co2_eq_emissions.emissions", unit)
    with pytest.raises(CardError, match=r"(ambiguous|unknown) unit"):
        parse_emissions_g(f"3 {unit}", "card: co2_eq_emissions.emissions")


def test_a_unit_in_the_string_that_contradicts_the_unit_key_is_refused() -> None:
    with pytest.raises(CardError, match="unit 'kg' conflicts with unit 'g'"):
        parse_emissions_g("5 kg", "x", "g")


def test_unit_and_units_keys_that_disagree_are_refused(tmp_path: Path) -> None:
    _card(tmp_path / "cards", "org/m", "---\nco2_eq_emissions: {emissions: 5, unit: kg, units: g}\n---\n")
    code, summary = _ingest(tmp_path / "cards", f"sqlite:///{tmp_path}/s.sqlite")
    assert code == 1
    assert "co2_eq_emissions.units: 'g' conflicts with unit 'kg'" in summary["skipped"][0]["reason"]


@pytest.mark.parametrize(("value", "kwh"), [
    (3.1, 3.1), (3, 3.0), ("3.1 kWh", 3.1), ("3100 Wh", 3.1), ("0.5 MWh", 500.0), ("2 KWH", 2.0), ("7", 7.0),
])
def test_energy_consumed_reads_kwh_wh_and_mwh(value: object, kwh: float) -> None:
    assert parse_energy_kwh(value, "x") == pytest.approx(kwh)


@pytest.mark.parametrize("value", ["3 kJ", "3 J", "1 GWh", "2 kcal", "lots"])
def test_other_energy_units_are_refused(value: str) -> None:
    with pytest.raises(CardError):
        parse_energy_kwh(value, "x")


def test_energy_string_and_integer_figures_through_the_cli(tmp_path: Path) -> None:
    # Before: "3100 Wh" was "not a number" and the card was skipped.
    report = _ingested_report(tmp_path, "---\nco2_eq_emissions: {emissions: 1000, energy_consumed: 3100 Wh}\n---\n")
    assert report.carbon is not None
    assert (report.carbon.total_kg.value, report.energy.it_kwh.value) == pytest.approx((1.0, 3.1))
