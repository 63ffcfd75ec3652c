"""One coherent place (issue 14, case 1) and the two factor conventions (CI scope, hydro).

A cloud region fixes its country and grid; carbon intensity and EWIF come from the same
grid, and each factor's granularity says which level it came from. Carbon intensity is
lifecycle with the direct-combustion figure inside the interval; the EWIF's central value
is the named hydro convention, with the other figure beside it.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest
from factories import run_report
from typer.testing import CliRunner

from dia.cli.main import app
from dia.convert import (
    convert_report,
    footprint,
    known_locations,
    resolve_factors,
    resolve_place,
    tables,
)
from dia.convert.factors import ewif_of_mix
from dia.errors import ConflictingLocationError, UnknownLocationError
from dia.record.report import Factor, Location
from dia.show import format_number

DIA = str(Path(sys.executable).with_name("dia"))
US_EAST_1 = {"cloud_provider": "aws", "cloud_region": "us-east-1"}


def _factors_json(*args: str) -> dict[str, dict[str, object]]:
    result = CliRunner().invoke(app, ["factors", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _ewif_without_hydro(grid: tables.Grid) -> float:
    return ewif_of_mix(grid.mix_share, with_hydro=False)


# -- case 1: a country beside a cloud region ---------------------------------------------------

def test_issue_case_1_cli_refuses_a_country_that_contradicts_the_cloud_region() -> None:
    # Before: exit 0, carbon intensity from us-east-1 and the EWIF from France's mix.
    result = CliRunner().invoke(app, ["factors", "--cloud-provider", "aws", "--cloud-region", "us-east-1",
                                      "--country", "FRA", "--json"])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "aws:us-east-1" in lines[0] and "USA" in lines[0] and "FRA" in lines[0]
    assert "{" not in result.output  # no JSON with a mixed place


def test_a_region_that_contradicts_the_cloud_region_is_refused_naming_both() -> None:
    for region, wanted in [("california", "virginia"), ("quebec", "CAN")]:
        result = CliRunner().invoke(app, ["factors", "--cloud-provider", "aws", "--cloud-region", "us-east-1",
                                          "--region", region])
        assert result.exit_code != 0
        line = result.output.strip()
        assert "\n" not in line and "aws:us-east-1" in line and region in line and wanted in line


def test_agreeing_duplicates_are_fine_and_the_cloud_region_fixes_the_grid() -> None:
    alone = _factors_json("--cloud-provider", "aws", "--cloud-region", "us-east-1")
    both = _factors_json("--cloud-provider", "aws", "--cloud-region", "us-east-1", "--country", "usa",
                         "--region", "US-VA")
    assert both == alone
    assert alone["location"]["country"] == "USA" and alone["location"]["region"] == "virginia"  # type: ignore[index]


def test_python_api_raises_conflicting_location_error() -> None:
    with pytest.raises(ConflictingLocationError, match="aws:us-east-1 is in USA, not FRA"):
        resolve_factors(country="FRA", **US_EAST_1)
    with pytest.raises(ConflictingLocationError, match=r"virginia.*california"):
        footprint(1.0, region="california", **US_EAST_1)
    # Existing handlers of unknown places catch it too.
    with pytest.raises(UnknownLocationError):
        footprint(1.0, country="FRA", **US_EAST_1)


def test_tracker_path_notes_the_conflict_and_uses_the_cloud_grid() -> None:
    report = run_report("org/m", energy_kwh=100.0,
                        location=Location(country="FRA", cloud_provider="aws", cloud_region="us-east-1"))
    converted = convert_report(report)  # the tracker's path never raises
    assert converted.location.country == "USA" and converted.location.cloud_region == "us-east-1"
    assert any("aws:us-east-1" in n and "FRA" in n for n in converted.notes)
    ewif = next(f for f in converted.factors if f.name == "ewif")
    assert ewif.key == "USA" and ewif.key != "FRA"
    cloud_only = footprint(report.energy.it_kwh, **US_EAST_1)
    assert converted.water is not None
    assert converted.water.offsite_l.value == pytest.approx(cloud_only.water.offsite_l.value)
    france = resolve_factors(country="FRA").factors["ewif"].value
    assert ewif.value != pytest.approx(france)


def test_a_tracked_run_with_a_contradicting_country_is_converted_on_the_cloud_grid() -> None:
    import dia

    # Before: the conversion failed inside the tracker and the run kept no carbon at all.
    with dia.track("me/place", country="FRA", store=False, meter="estimate", **US_EAST_1) as run:
        pass
    report = run.report
    assert report is not None and report.carbon is not None and report.water is not None
    assert report.location.country == "USA" and not report.extra.get("degraded")
    assert any("aws:us-east-1" in n and "FRA" in n for n in report.notes)
    assert next(f for f in report.factors if f.name == "ewif").key == "USA"


def test_a_cloud_region_argument_is_not_paired_with_the_shells_dia_country(monkeypatch: pytest.MonkeyPatch) -> None:
    import dia
    from dia import settings

    # DIA_COUNTRY in a user's profile describes where they usually run, not this cloud job:
    # the arguments describe the whole place, so there is nothing to contradict.
    monkeypatch.setenv(settings.ENV_COUNTRY, "FRA")
    with dia.track("me/cloud", store=False, meter="estimate", **US_EAST_1) as run:
        pass
    report = run.report
    assert report is not None and report.location.country == "USA"
    assert not any("FRA" in n for n in report.notes)
    # With no location argument, the shell's variables still describe the run.
    with dia.track("me/home", store=False, meter="estimate") as home:
        pass
    assert home.report is not None and home.report.location.country == "FRA"


# -- same grid, honest granularity ----------------------------------------------------------------

def test_granularity_says_which_level_each_factor_came_from() -> None:
    # US: eGRID states have no generation mix, so the EWIF stays at country level.
    us = _factors_json("--cloud-provider", "aws", "--cloud-region", "us-east-1")
    assert (us["carbon_intensity_kg_per_kwh"]["granularity"], us["carbon_intensity_kg_per_kwh"]["key"]) == (
        "cloud_region", "aws:us-east-1")
    assert (us["ewif_l_per_kwh"]["granularity"], us["ewif_l_per_kwh"]["key"]) == ("country", "USA")
    # Canada: Montréal sits in Quebec, which has a mix: the EWIF is Quebec's, not Canada's.
    ca = _factors_json("--cloud-provider", "gcp", "--cloud-region", "northamerica-northeast1")
    assert (ca["ewif_l_per_kwh"]["granularity"], ca["ewif_l_per_kwh"]["key"]) == ("subnational", "quebec")
    assert ca["ewif_l_per_kwh"]["value"] == pytest.approx(resolve_factors(region="quebec").factors["ewif"].value)
    assert ca["ewif_l_per_kwh"]["value"] != pytest.approx(resolve_factors(country="CAN").factors["ewif"].value)
    # Europe: the country mix of the region's country.
    eu = _factors_json("--cloud-provider", "gcp", "--cloud-region", "europe-west9")
    assert (eu["ewif_l_per_kwh"]["granularity"], eu["ewif_l_per_kwh"]["key"]) == ("country", "FRA")
    assert eu["carbon_intensity_kg_per_kwh"]["granularity"] == "cloud_region"


def test_a_province_gives_carbon_intensity_and_ewif_from_the_same_grid() -> None:
    quebec = _factors_json("--region", "quebec")
    ci, ewif = quebec["carbon_intensity_kg_per_kwh"], quebec["ewif_l_per_kwh"]
    assert (ci["granularity"], ci["key"]) == (ewif["granularity"], ewif["key"]) == ("subnational", "quebec")
    # A US state has no mix: its EWIF honestly says it came from the country.
    virginia = _factors_json("--region", "virginia")
    assert virginia["carbon_intensity_kg_per_kwh"]["granularity"] == "subnational"
    assert (virginia["ewif_l_per_kwh"]["granularity"], virginia["ewif_l_per_kwh"]["key"]) == ("country", "USA")


def test_every_mapped_cloud_region_sits_in_a_known_grid_of_its_country() -> None:
    text = (files("dia.convert") / "data" / "cloud-region-grids.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) >= 30
    grids = tables.subnational_grids()
    for row in rows:
        place = resolve_place(cloud_provider=row["provider"], cloud_region=row["region"])
        assert place.location.region == row["grid"], row
        assert grids[row["grid"]].country == place.location.country, row
    # Regions without a mapped grid still resolve, to their country.
    mapped = {(r["provider"], tables.normalise_key(r["region"])) for r in rows}
    for name in known_locations()["cloud_regions"]:
        provider, region = name.split(":", 1)
        if (provider, tables.normalise_key(region)) not in mapped:
            assert resolve_place(cloud_provider=provider, cloud_region=region).location.region is None


# -- CI scope: lifecycle by default, direct combustion inside the interval -------------------------

@pytest.mark.parametrize("place", [
    {"country": "CAN"}, {"country": "NOR"}, {"region": "quebec"}, {"region": "virginia"}, {"region": "se3"},
    US_EAST_1, {"cloud_provider": "gcp", "cloud_region": "europe-west9"},
    {"cloud_provider": "azure", "cloud_region": "westeurope"}, {},
])
def test_carbon_intensity_is_lifecycle_with_direct_combustion_inside_the_interval(place: dict[str, str]) -> None:
    ci = resolve_factors(**place).factors["carbon_intensity"]
    assert ci.convention == "lifecycle"
    assert ci.alternative is not None and ci.alternative <= ci.value
    assert ci.low <= ci.alternative <= ci.high and ci.low <= ci.value <= ci.high


def test_direct_sources_are_converted_and_lifecycle_sources_kept() -> None:
    # Ember's country figures are lifecycle: the central value is the source's.
    can = resolve_factors(country="CAN").factors["carbon_intensity"]
    assert can.value == pytest.approx(tables.country_grids()["CAN"].carbon_intensity_g_per_kwh / 1000)
    assert can.alternative is not None and can.alternative < can.value
    # eGRID and the cloud figures count the stack only: kept as the alternative, central lifecycle.
    virginia = resolve_factors(region="virginia").factors["carbon_intensity"]
    egrid = tables.subnational_grids()["virginia"].carbon_intensity_g_per_kwh / 1000
    assert virginia.alternative == pytest.approx(egrid) and virginia.value > egrid
    aws = resolve_factors(**US_EAST_1).factors["carbon_intensity"]
    ccf = tables.cloud_regions()[("aws", "useast1")].carbon_intensity_g_per_kwh / 1000
    assert aws.alternative == pytest.approx(ccf) and aws.value > ccf
    # An explicit intensity is the user's: no convention is claimed for it.
    given = resolve_factors(carbon_intensity=0.2).factors["carbon_intensity"]
    assert (given.convention, given.alternative) == (None, None)


# -- hydro: a named default for the central value ------------------------------------------------

def test_ewif_central_is_the_named_convention_and_the_interval_holds_both() -> None:
    for place in ({"country": "CAN"}, {"country": "USA"}, {"region": "quebec"}, US_EAST_1):
        resolved = resolve_factors(**place)
        grid = resolved.place.mix_grid
        assert grid is not None
        counted, not_counted = ewif_of_mix(grid.mix_share, with_hydro=True), _ewif_without_hydro(grid)
        ewif = resolved.factors["ewif"]
        assert ewif.convention == "with_hydro_evaporation"
        assert ewif.value == pytest.approx(counted)  # not the midpoint of the two conventions
        assert ewif.alternative == pytest.approx(not_counted)
        assert ewif.low <= not_counted <= counted <= ewif.high
    pinned = resolve_factors(country="CAN", hydro="without").factors["ewif"]
    assert pinned.convention == "without_hydro_evaporation"
    assert pinned.value == pytest.approx(_ewif_without_hydro(tables.country_grids()["CAN"]))
    assert resolve_factors(country="CAN", hydro="with").factors["ewif"].value == pytest.approx(
        resolve_factors(country="CAN").factors["ewif"].value)


def test_cli_shows_convention_and_the_other_figure() -> None:
    data = _factors_json("--country", "CAN")
    ci, ewif = data["carbon_intensity_kg_per_kwh"], data["ewif_l_per_kwh"]
    assert ci["convention"] == "lifecycle" and isinstance(ci["alternative"], float)
    assert ewif["convention"] == "with_hydro_evaporation" and isinstance(ewif["alternative"], float)
    table = CliRunner().invoke(app, ["factors", "--country", "CAN"])
    assert table.exit_code == 0
    assert "lifecycle" in table.output and "direct_combustion" in table.output
    assert "without_hydro_evaporation" in table.output and format_number(ewif["alternative"]) in table.output


def test_cli_factors_have_three_figures_and_an_en_dash() -> None:
    # The dashboard clipped the embodied factor 13.1992 to "3.1992", below its own low bound.
    data = _factors_json("--country", "CAN")
    table = CliRunner().invoke(app, ["factors", "--country", "CAN"]).output
    embodied = data["embodied_g_per_gpu_hour"]
    assert embodied["value"] == pytest.approx(13.1992, abs=1e-4)
    assert re.search(r"embodied_per_gpu_hour +13\.2 ", table), table
    for name in ("carbon_intensity_kg_per_kwh", "pue", "wue_l_per_kwh", "ewif_l_per_kwh", "embodied_g_per_gpu_hour"):
        f = data[name]
        assert f"{format_number(f['low'])}–{format_number(f['high'])}" in table, (name, table)
    assert "0.170043" not in table  # no raw float


@pytest.mark.parametrize("args", [["--country", "ALB", "--hydro", "without"], ["--region", "quebec"],
                                  ["--cloud-provider", "aws", "--cloud-region", "us-east-1"]])
def test_factors_table_fits_80_columns(args: list[str]) -> None:
    # ALB with a pinned convention is the widest known place (tiny figures in e-notation).
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("FORCE_COLOR", None)
    proc = subprocess.run([DIA, "factors", *args], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    table_lines = [line for line in proc.stdout.splitlines() if ": " not in line]  # sources below wrap freely
    assert "convention" in proc.stdout
    assert max(len(line) for line in table_lines) <= 80, proc.stdout


def test_reports_written_before_the_conventions_still_load() -> None:
    old = {"name": "ewif", "value": 1.6, "low": 1.13, "high": 2.07, "unit": "L/kWh", "source": "x",
           "granularity": "country"}
    factor = Factor.model_validate(old)
    assert (factor.convention, factor.alternative) == (None, None)
    with pytest.raises(ValueError, match="alternative"):
        Factor.model_validate({**old, "alternative": -1.0})


def test_the_world_default_water_factor_follows_the_same_hydro_convention(monkeypatch: pytest.MonkeyPatch) -> None:
    from dia.convert.factors import HYDRO_DEFAULT, HYDRO_OTHER, ewif_of_mix, world_mix

    unknown = resolve_factors(use_configured=False).factors["ewif"]
    with_hydro = ewif_of_mix(world_mix(), with_hydro=True)
    without = ewif_of_mix(world_mix(), with_hydro=False)
    assert unknown.granularity == "world" and unknown.convention == HYDRO_DEFAULT
    assert unknown.value == pytest.approx(with_hydro) and unknown.alternative == pytest.approx(without)
    assert unknown.low <= without < with_hydro <= unknown.high
    pinned = resolve_factors(use_configured=False, hydro="without").factors["ewif"]
    assert pinned.convention == HYDRO_OTHER and pinned.value == pytest.approx(without)
