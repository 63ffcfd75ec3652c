"""Issue 14, case 5: a report with energy but no carbon is converted on import.

Reproduced first: a report with measured energy and a country but no carbon block used to
import unconverted, and the rollup showed coverage 100 % with carbon 0. ``dia import`` and
``dia ingest`` of report files now run the tracker's conversion on it (its location, or
the world default with quality ``estimated`` and a note), keeping the energy as stated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from factories import run_report
from typer.testing import CliRunner

from dia import settings
from dia.cli.main import app
from dia.convert import convert_report
from dia.convert.complete import NOTE_CONVERTED, NOTE_WATER, convert_if_missing
from dia.record.report import Quantity, RunReport, check_consistency
from dia.record.store import Store


def energy_only(model_id: str, energy_kwh: float = 10.0, **fields: Any) -> RunReport:
    return run_report(model_id, energy_kwh=(energy_kwh, 0.95 * energy_kwh, 1.05 * energy_kwh), quality="measured",
                      **fields)


def import_file(tmp_path: Path, reports: list[RunReport], db: str) -> Any:
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(r.model_dump_json() + "\n" for r in reports), encoding="utf-8")
    return CliRunner().invoke(app, ["import", str(path), "--db", db])


def rollup(model_id: str, db: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["rollup", model_id, "--json", "--db", db])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_energy_with_a_country_is_converted_with_that_country(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/s.sqlite"
    report = energy_only("org/fr", location={"country": "FRA"})
    result = import_file(tmp_path, [report], db)
    assert result.exit_code == 0, result.output

    stored = Store(db).get_run(report.id)
    assert stored is not None and stored.carbon is not None and stored.water is not None
    assert stored.energy.it_kwh == report.energy.it_kwh  # the energy as stated
    # The same conversion as the tracker's, at the report's own place.
    expected = convert_report(report)
    assert stored.carbon == expected.carbon and stored.water == expected.water
    ci = next(f for f in stored.factors if f.name == "carbon_intensity")
    assert (ci.granularity, ci.key) == ("country", "FRA")
    assert NOTE_CONVERTED in stored.notes
    family = rollup("org/fr", db)
    assert family["carbon_kg"]["value"] == pytest.approx(expected.carbon.total_kg.value)
    assert family["carbon_kg"]["value"] > 0


def test_energy_without_a_location_gets_the_world_default_estimated_with_a_note(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/s.sqlite"
    report = energy_only("org/nowhere")
    assert import_file(tmp_path, [report], db).exit_code == 0

    family = rollup("org/nowhere", db)
    assert family["coverage"] == 1.0
    assert family["carbon_kg"]["value"] > 0
    assert list(family["by_quality"]) == ["estimated"]
    stored = Store(db).get_run(report.id)
    assert stored is not None and stored.carbon is not None
    assert stored.carbon.total_kg.quality.value == "estimated"
    assert stored.energy.it_kwh.quality.value == "measured"
    assert stored.location.resolved_level == "world"
    assert any("world-average" in n for n in stored.notes)


def test_the_importing_machines_configured_place_is_not_applied(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # The run happened elsewhere: this machine's DIA_COUNTRY says nothing about it.
    monkeypatch.setenv(settings.ENV_COUNTRY, "NOR")
    db = f"sqlite:///{tmp_path}/s.sqlite"
    report = energy_only("org/elsewhere")
    assert import_file(tmp_path, [report], db).exit_code == 0
    stored = Store(db).get_run(report.id)
    assert stored is not None and stored.carbon is not None
    assert stored.location.country is None and stored.location.resolved_level == "world"
    assert stored.carbon.total_kg.quality.value == "estimated"
    assert not any("location taken from" in n for n in stored.notes)


def test_ingest_of_a_report_file_converts_too(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/s.sqlite"
    root = tmp_path / "dump"
    root.mkdir()
    report = energy_only("org/ingested", location={"country": "DEU"})
    (root / "runs.jsonl").write_text(report.model_dump_json() + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", str(root), "--db", db])
    assert result.exit_code == 0, result.output
    stored = Store(db).get_run(report.id)
    assert stored is not None and stored.carbon is not None and stored.carbon.total_kg.value > 0
    assert stored.energy.it_kwh == report.energy.it_kwh


def test_stated_carbon_is_kept_and_only_water_is_added() -> None:
    report = run_report("org/co2", energy_kwh=10.0, carbon_kg=(3.0, 2.0, 4.0), quality="reported",
                        location={"country": "FRA"})
    done = convert_if_missing(report)
    assert done.carbon == report.carbon and done.energy == report.energy
    assert done.water is not None and done.water.total_l.value > 0
    assert convert_report(report).water == done.water
    assert sorted(f.name for f in done.factors) == ["ewif", "pue", "wue"]
    assert NOTE_WATER in done.notes
    assert check_consistency(done) == []


def test_a_stated_facility_energy_is_kept_and_sets_the_pue() -> None:
    report = energy_only("org/dc", location={"country": "FRA"}).model_copy()
    energy = report.energy.model_copy(update={"facility_kwh": Quantity.of(13.0, "kWh", "measured")})
    report = report.model_copy(update={"energy": energy})
    done = convert_if_missing(report)
    assert done.energy == report.energy
    pue = next(f for f in done.factors if f.name == "pue")
    assert pue.value == pytest.approx(1.3)
    ci = next(f for f in done.factors if f.name == "carbon_intensity")
    assert done.carbon is not None
    assert done.carbon.operational_kg.value == pytest.approx(13.0 * ci.value)


def test_nothing_to_convert_is_left_alone() -> None:
    full = convert_report(energy_only("org/full", location={"country": "FRA"}))
    assert convert_if_missing(full) is full
    undisclosed = run_report("org/card", energy_kwh=0.0, quality="unavailable")
    assert convert_if_missing(undisclosed) is undisclosed


def test_a_converted_export_reimports_unchanged(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/s.sqlite"
    report = energy_only("org/twice", location={"country": "FRA"})
    assert import_file(tmp_path, [report], db).exit_code == 0
    first = Store(db).get_run(report.id)
    assert first is not None
    assert import_file(tmp_path, [first], db).exit_code == 0
    assert Store(db).get_run(report.id) == first


def test_an_implausible_stated_facility_energy_is_refused_with_one_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/s.sqlite"
    report = energy_only("org/odd")
    energy = report.energy.model_copy(update={"facility_kwh": Quantity.of(100.0, "kWh", "measured")})
    result = import_file(tmp_path, [report.model_copy(update={"energy": energy}), energy_only("org/fine")], db)
    assert result.exit_code == 1
    assert ("skipped runs.jsonl: record 1 (line 1): energy.facility_kwh: 100 is 10 x it_kwh, a PUE outside 1-5: "
            "not converted (check the units of the two energies)") in result.stderr
    assert [r.model_id for r in Store(db).iter_runs()] == ["org/fine"]
