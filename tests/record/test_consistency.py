"""Issue 14, case 4: a report whose totals are not the sum of their parts is refused.

Reproduced first: ``dia import`` used to store a report whose carbon ``total_kg`` was 5.0
while operational + embodied was 1.5, with a ``measured`` total over ``estimated`` parts,
and rollups filed it under ``measured``. Every reader now refuses such a record with one
line naming it and the field; the good records of the same file are still stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from factories import run_report
from typer.testing import CliRunner

import dia
from dia.cli.main import app
from dia.errors import InvalidReportError
from dia.hub.formats import parse_card_text
from dia.hub.reader import ingest
from dia.record.files import read_reports
from dia.record.report import (
    Carbon,
    Energy,
    Quantity,
    RunReport,
    Water,
    check_consistency,
    parse_report,
)
from dia.record.store import Store


def q(value: float, quality: str, unit: str, low: float | None = None, high: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value, "unit": unit, "quality": quality}
    if low is not None:
        out["low"] = low
    if high is not None:
        out["high"] = high
    return out


def kg(value: float, quality: str = "estimated", **ends: float) -> dict[str, Any]:
    return q(value, quality, "kgCO2e", **ends)


def the_issue_report(model_id: str = "org/bad", **fields: Any) -> dict[str, Any]:
    """The issue's case: total 5.0 ``measured`` over parts 1.0 + 0.5 ``estimated``."""
    return {"model_id": model_id, "energy": {"it_kwh": q(3.0, "measured", "kWh")},
            "carbon": {"operational_kg": kg(1.0), "embodied_kg": kg(0.5), "total_kg": kg(5.0, "measured")},
            **fields}


def good_report(model_id: str, energy_kwh: float = 1.0) -> RunReport:
    return run_report(model_id, energy_kwh=energy_kwh, carbon_kg=0.4, water_l=2.0, quality="estimated")


def write_jsonl(path: Path, rows: list[dict[str, Any] | RunReport]) -> Path:
    lines = [r.model_dump_json() if isinstance(r, RunReport) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


# -- the issue's case through the CLI --------------------------------------------------------------

def test_import_refuses_the_inconsistent_record_and_stores_the_good_ones(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/s.sqlite"
    good = [good_report("org/good-a"), good_report("org/good-b", 2.0)]
    # The bad report is a child of good-a: before the fix, good-a's family rollup filed
    # 5 kg under "measured".
    bad = the_issue_report(parents=["org/good-a"])
    path = write_jsonl(tmp_path / "runs.jsonl", [good[0], bad, good[1]])

    result = invoke("import", str(path), "--db", db)

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped")]
    assert skipped == ["skipped runs.jsonl: record 2 (line 2): carbon.total_kg: 5 is not operational_kg + "
                       "embodied_kg (1.5) (and 1 more)"]
    assert result.stderr.splitlines()[-1] == f"imported 2 of 3 records into {db}; 1 refused"
    with Store(db) as store:
        assert sorted(r.id for r in store.iter_runs()) == sorted(r.id for r in good)
    rollup = invoke("rollup", "org/good-a", "--json", "--db", db)
    assert rollup.exit_code == 0, rollup.output
    family = json.loads(rollup.stdout)
    assert list(family["by_quality"]) == ["estimated"]
    assert family["carbon_kg"]["value"] == pytest.approx(0.4)


def test_validate_names_the_record_and_field_and_exits_1(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "runs.jsonl", [good_report("org/a"), the_issue_report()])
    result = invoke("validate", str(path))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "runs.jsonl: record 2 (line 2): carbon.total_kg: 5 is not operational_kg + embodied_kg (1.5)",
        "runs.jsonl: record 2 (line 2): carbon.total_kg.quality: measured is better than its parts (estimated)",
    ]
    assert invoke("validate", str(write_jsonl(tmp_path / "ok.jsonl", [good_report("org/a")]))).exit_code == 0


def test_a_refused_update_leaves_the_stored_run_untouched(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/s.sqlite"
    stored = good_report("org/kept")
    Store(db).save_run(stored)
    update = the_issue_report("org/kept", id=stored.id)
    result = invoke("import", str(write_jsonl(tmp_path / "update.jsonl", [update])), "--db", db)
    assert result.exit_code == 1
    assert "update.jsonl: record 1 (line 1): carbon.total_kg" in result.stderr
    with Store(db) as store:
        assert store.get_run(stored.id) == stored
        assert store.run_count() == 1


def test_ingest_of_a_report_file_refuses_it_too(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/s.sqlite"
    root = tmp_path / "dump"
    root.mkdir()
    write_jsonl(root / "runs.jsonl", [good_report("org/a"), the_issue_report()])
    result = invoke("ingest", str(root), "--db", db)
    assert result.exit_code == 1
    assert ("skipped runs.jsonl: record 2 (line 2): carbon.total_kg: 5 is not operational_kg + embodied_kg "
            "(1.5) (and 1 more)") in result.output
    assert [r.model_id for r in Store(db).iter_runs()] == ["org/a"]


def test_every_reader_applies_the_check(tmp_path: Path) -> None:
    single = tmp_path / "one.json"
    single.write_text(json.dumps(the_issue_report()), encoding="utf-8")
    [record] = list(read_reports(single))
    assert not record.ok and record.problems[0] == "one.json: carbon.total_kg: 5 is not operational_kg + embodied_kg (1.5)"
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([the_issue_report()]), encoding="utf-8")
    assert not next(iter(read_reports(listed))).ok
    with pytest.raises(InvalidReportError, match=r"^x.json: carbon.total_kg: 5 is not .* \(and 1 more\)$"):
        parse_report(the_issue_report(), where="x.json")


def test_the_store_does_not_check_but_the_python_api_can(tmp_path: Path) -> None:
    """Documented choice: Store.save_run stores what it is given (the tracker must never
    fail on a check); readers check, and check_consistency is public for API callers."""
    bad = RunReport.model_validate(the_issue_report())
    assert bad.consistency_problems() == check_consistency(bad) != []
    with Store(f"sqlite:///{tmp_path}/s.sqlite") as store:
        store.save_run(bad)
        assert store.get_run(bad.id) == bad


# -- what is checked --------------------------------------------------------------------------------

def _carbon(op: dict[str, Any], total: dict[str, Any], embodied: dict[str, Any] | None = None) -> RunReport:
    carbon: dict[str, Any] = {"operational_kg": op, "total_kg": total}
    if embodied is not None:
        carbon["embodied_kg"] = embodied
    return RunReport(energy={"it_kwh": q(1.0, "measured", "kWh")}, carbon=carbon)


def test_endpoints_are_compared_too() -> None:
    r = _carbon(kg(1.0, low=0.5, high=2.0), kg(1.0, low=0.5, high=9.0))
    assert check_consistency(r) == ["carbon.total_kg.high: 9 is not operational_kg (2)"]


def test_the_tolerance_is_one_part_in_a_million() -> None:
    assert check_consistency(_carbon(kg(1.0), kg(1.0 + 1e-7))) == []
    assert check_consistency(_carbon(kg(1.0), kg(1.0 + 1e-5))) == ["carbon.total_kg: 1.00001 is not operational_kg (1)"]


def test_a_total_better_than_its_parts_is_refused_even_when_the_sum_is_right() -> None:
    r = _carbon(kg(1.0, "reported"), kg(1.5, "measured"), embodied=kg(0.5, "estimated"))
    assert check_consistency(r) == ["carbon.total_kg.quality: measured is better than its parts (estimated)"]
    assert check_consistency(_carbon(kg(1.0, "reported"), kg(1.5, "imputed"), embodied=kg(0.5))) == []


def test_water_total_is_on_site_plus_off_site() -> None:
    litres = {"unit": "L", "quality": "estimated"}
    water = Water(onsite_l=Quantity(value=1.0, **litres), offsite_l=Quantity(value=2.0, **litres),
                  total_l=Quantity(value=4.0, **litres))
    r = RunReport(energy={"it_kwh": q(1.0, "measured", "kWh")}, water=water)
    assert check_consistency(r) == ["water.total_l: 4 is not onsite_l + offsite_l (3)"]


def test_energy_it_is_the_sum_of_its_components_when_all_are_given() -> None:
    def energy(it: float, **parts: float) -> RunReport:
        return RunReport(energy=Energy(it_kwh=Quantity.of(it, "kWh", "estimated"),
                                       **{k: Quantity.of(v, "kWh", "estimated") for k, v in parts.items()}))

    assert check_consistency(energy(3.0, gpu_kwh=1.0, cpu_kwh=1.0, ram_kwh=1.0)) == []
    assert check_consistency(energy(5.0, gpu_kwh=1.0, cpu_kwh=1.0, ram_kwh=1.0)) == [
        "energy.it_kwh: 5 is not gpu_kwh + cpu_kwh + ram_kwh (3)"]
    # Only the GPU broken out: IT energy may hold more, never less.
    assert check_consistency(energy(5.0, gpu_kwh=4.0)) == []
    assert check_consistency(energy(3.0, gpu_kwh=4.0)) == ["energy.it_kwh: 3 is less than gpu_kwh (4)"]


def test_facility_energy_is_at_least_it_energy() -> None:
    r = RunReport(energy=Energy(it_kwh=Quantity.of(2.0, "kWh", "measured"),
                                facility_kwh=Quantity.of(1.0, "kWh", "estimated")))
    assert check_consistency(r) == ["energy.facility_kwh: 1 is less than it_kwh (2): facility energy is IT "
                                    "energy x PUE, and a PUE is at least 1"]


def test_low_value_high_order_is_refused_by_the_schema(tmp_path: Path) -> None:
    row = the_issue_report()
    row["carbon"] = {"operational_kg": kg(1.0, low=2.0), "total_kg": kg(1.0, low=2.0)}
    result = invoke("validate", str(write_jsonl(tmp_path / "runs.jsonl", [row])))
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == ("runs.jsonl: record 1 (line 1): carbon.operational_kg: low (2.0) is "
                                             "greater than value (1.0)")


# -- what DIA builds itself passes ------------------------------------------------------------------

def test_parts_not_disclosed_are_not_summed() -> None:
    """A card stating only totals: DIA builds parts with quality ``unavailable``."""
    card = ("---\ndia_report:\n  footprint:\n    carbon_kgco2eq: 12.0\n    water_liters: 30.0\n"
            "    energy_kwh: 40\n---\n")
    parsed = parse_card_text(card, model_id="org/card", source_ref="org/card/README.md")
    report = parsed.reports[0]
    assert report.water is not None and report.water.onsite_l.quality.value == "unavailable"
    assert check_consistency(report) == []
    for text in ("---\nco2_eq_emissions: 1500\n---\n",
                 "---\nco2_eq_emissions: {emissions: 1200, energy_consumed: 3.1}\n---\n"):
        hub = parse_card_text(text, model_id="org/hub", source_ref="README.md").reports[0]
        assert check_consistency(hub) == []
    # A disclosed part larger than its total is still wrong.
    water = report.water.model_copy(update={"onsite_l": Quantity.of(50.0, "L", "reported")})
    assert check_consistency(report.model_copy(update={"water": water})) == [
        "water.total_l: 30 is less than onsite_l (50)"]


def test_exported_card_reports_import_back(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/s.sqlite"
    card = tmp_path / "cards" / "org" / "card"
    card.mkdir(parents=True)
    (card / "README.md").write_text("---\ndia_report:\n  footprint:\n    carbon_kgco2eq: 12.0\n"
                                    "    water_liters: 30.0\n---\n", encoding="utf-8")
    assert ingest([tmp_path / "cards"], store=db).ingested == 1
    exported = invoke("export", "--db", db)
    dump = tmp_path / "runs.jsonl"
    dump.write_text(exported.stdout, encoding="utf-8")
    assert invoke("validate", str(dump)).exit_code == 0
    assert invoke("import", str(dump), "--db", f"sqlite:///{tmp_path}/other.sqlite").exit_code == 0


def test_a_tracked_report_is_consistent() -> None:
    with dia.track("me/checked", country="FRA", meter="estimate", sample_interval_s=0.05) as run, \
            run.phase("train"):
        run.count(steps=1)
    assert run.report is not None and run.report.carbon is not None
    assert check_consistency(run.report) == []


def test_a_converted_report_with_embodied_carbon_is_consistent() -> None:
    from dia.convert import convert_report

    report = run_report("org/gpu", energy_kwh=(10.0, 9.0, 11.0), quality="measured", gpu_hours=8.0,
                        hardware={"gpus": [{"name": "NVIDIA A100-SXM4-40GB", "count": 8}]},
                        location={"country": "DEU"})
    done = convert_report(report)
    assert done.carbon is not None and done.carbon.embodied_kg is not None
    assert check_consistency(done) == []
    total = done.carbon.total_kg
    broken = done.carbon.model_copy(update={"total_kg": total.model_copy(update={"value": total.value * 2,
                                                                                  "high": total.high * 2})})
    assert check_consistency(done.model_copy(update={"carbon": broken}))[0].startswith("carbon.total_kg: ")


def test_merged_ranks_stay_consistent() -> None:
    from dia.record.merge import merge_reports

    ranks = [run_report("org/dist", energy_kwh=e, carbon_kg=c, water_l=w, quality="estimated", run_group="g",
                        rank=i, world_size=2) for i, (e, c, w) in enumerate([(1.0, 0.3, 2.0), (2.0, 0.6, 4.0)])]
    assert check_consistency(merge_reports(ranks[0], ranks[1:])) == []


def test_refused_update_on_every_backend(store_url: str, tmp_path: Path) -> None:
    stored = good_report("org/kept")
    with Store(store_url) as store:
        store.save_run(stored)
    bad = the_issue_report("org/kept", id=stored.id)
    result = invoke("import", str(write_jsonl(tmp_path / "u.jsonl", [bad, good_report("org/new")])),
                    "--db", store_url)
    assert result.exit_code == 1
    with Store(store_url) as store:
        assert store.get_run(stored.id) == stored
        assert sorted(r.model_id or "" for r in store.iter_runs()) == ["org/kept", "org/new"]


def test_carbon_without_embodied_counts_none() -> None:
    op = Quantity.of(1.0, "kgCO2e", "estimated")
    ok = RunReport(energy={"it_kwh": q(1.0, "measured", "kWh")}, carbon=Carbon(operational_kg=op, total_kg=op))
    assert check_consistency(ok) == []


def test_a_card_stating_total_and_embodied_but_no_operational_part_is_consistent() -> None:
    from dia.hub.formats import parse_card_text

    # Before: operational was taken as the whole total, so operational + embodied exceeded it.
    card = parse_card_text("---\ndia:\n  model_id: org/m\n  carbon_kg:\n    embodied: {value: 1.0, quality: estimated}\n"
                           "    total: {value: 5.0, quality: estimated}\n---\n", model_id=None, source_ref="README.md")
    report = card.reports[0]
    assert check_consistency(report) == []
    assert report.carbon is not None and report.carbon.total_kg.value == 5.0
    assert report.carbon.embodied_kg is not None and report.carbon.embodied_kg.value == 1.0
    assert report.carbon.operational_kg.quality.value == "unavailable"
