"""Conversion: factor tables, location resolution, the formulas, intervals and quality."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import dia
from dia.convert import footprint, gpu_tdp_w, known_locations, resolve_factors, tables
from dia.errors import InvalidFactorError, UnknownLocationError
from dia.record.report import Energy, Quantity, RunReport

DIA = str(Path(sys.executable).with_name("dia"))


def cli(*args: str, expect_fail: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the installed ``dia`` script as a user would; check the exit status."""
    proc = subprocess.run([DIA, *args], capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert (proc.returncode != 0) == expect_fail, proc.stderr
    return proc


def _ci(**place: str) -> float:
    return resolve_factors(**place).factors["carbon_intensity"].value


def test_country_grid_is_codecarbons_figure_canada_170_g() -> None:
    f = resolve_factors(country="CAN").factors["carbon_intensity"]
    assert f.value == pytest.approx(0.170, abs=0.001)
    assert f.unit == "kgCO2e/kWh" and f.granularity == "country" and "codecarbon" in f.source
    assert f.low < f.value < f.high


def test_every_bundled_country_converts() -> None:
    countries = known_locations()["countries"]
    assert len(countries) == 213
    positive = 0
    for iso in countries:
        fp = footprint(1.0, country=iso)
        assert fp.level == "country" and fp.location.country == iso
        positive += fp.carbon.total_kg.value > 0
    assert positive > 200  # a few all-hydro grids carry 0 g/kWh in the source data


def test_gcp_region_uses_googles_published_figure() -> None:
    # Google's 2024 region carbon data: europe-west9 (Paris) 16.3 gCO2e/kWh, direct combustion
    # ("operational"); DIA's central value is the lifecycle figure, Google's kept beside it.
    resolved = resolve_factors(cloud_provider="gcp", cloud_region="europe-west9")
    f = resolved.factors["carbon_intensity"]
    assert f.alternative == pytest.approx(0.0163) and f.convention == "lifecycle"
    assert f.value > f.alternative and f.low <= f.alternative <= f.high
    assert f.granularity == "cloud_region" and "Google" in f.source
    assert resolved.place.location.country == "FRA"
    # The operator's PUE applies to a cloud region.
    assert resolved.factors["pue"].granularity == "operator" and resolved.factors["pue"].value == 1.10


def test_all_three_clouds_resolve() -> None:
    for provider, region in [("aws", "us-east-1"), ("azure", "westeurope"), ("gcp", "us-central1")]:
        fp = footprint(1.0, cloud_provider=provider, cloud_region=region)
        assert fp.level == "cloud_region" and fp.location.cloud_provider == provider


def test_resolution_order_most_specific_first() -> None:
    # us-west1 is in Oregon: a region beside it must agree (test_place.py checks a contradiction).
    assert footprint(1.0, country="USA", region="oregon", cloud_provider="gcp", cloud_region="us-west1",
                     carbon_intensity=0.1).level == "explicit"
    assert footprint(1.0, country="USA", region="oregon", cloud_provider="gcp",
                     cloud_region="us-west1").level == "cloud_region"
    sub = footprint(1.0, country="CAN", region="quebec")
    assert sub.level == "subnational" and sub.location.region == "quebec"
    assert _ci(country="CAN", region="quebec") < _ci(country="CAN") < _ci(country="CAN", region="alberta")
    assert footprint(1.0, country="CAN").level == "country"
    assert footprint(1.0).level == "world"


def test_location_from_environment_and_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[location]\ncountry = "DEU"\n', encoding="utf-8")
    monkeypatch.setenv("DIA_CONFIG", str(config))
    fp = footprint(1.0)
    assert fp.location.country == "DEU" and any(str(config) in n for n in fp.notes)
    monkeypatch.setenv("DIA_COUNTRY", "FRA")  # the environment wins over the config file
    assert footprint(1.0).location.country == "FRA"
    assert footprint(1.0, country="CAN").location.country == "CAN"  # arguments win over both


def test_unknown_location_raises_with_suggestions_or_falls_back_to_world() -> None:
    with pytest.raises(UnknownLocationError, match="CAN"):
        footprint(1.0, country="CANN")
    with pytest.raises(UnknownLocationError, match="us-east-1"):
        footprint(1.0, cloud_provider="aws", cloud_region="us-east-11")
    fp = footprint(Quantity.of(1.0, "kWh", "measured"), country="Atlantis", on_unknown="world")
    assert fp.level == "world" and fp.location.country is None
    assert fp.carbon.operational_kg.quality.value == "estimated"
    assert any("Atlantis" in n for n in fp.notes) and any("world" in n for n in fp.notes)
    ci = fp.factors[0]
    assert (ci.low, ci.value, ci.high) == (0.03, 0.475, 0.80)


def test_water_formula_applies_wue_to_it_energy_and_ewif_to_facility_energy() -> None:
    fp = footprint(100.0, country="USA", pue=1.5, wue=0.5, hydro="without")
    ewif = next(f for f in fp.factors if f.name == "ewif")
    assert fp.energy.facility_kwh.value == pytest.approx(150.0)
    assert fp.water.onsite_l.value == pytest.approx(50.0)  # 100 kWh IT x 0.5, not 150 x 0.5
    assert fp.water.offsite_l.value == pytest.approx(150.0 * ewif.value)
    assert fp.water.total_l.value == pytest.approx(fp.water.onsite_l.value + fp.water.offsite_l.value)
    ci = fp.factors[0].value
    assert fp.carbon.operational_kg.value == pytest.approx(150.0 * ci)


def test_intervals_propagate_endpoint_wise() -> None:
    energy = Quantity.of(10.0, "kWh", "sampled", low=9.0, high=12.0)
    fp = footprint(energy, country="DEU", gpu_hours=4.0)
    f = {x.name: x for x in fp.factors}
    fac = fp.energy.facility_kwh
    assert (fac.low, fac.value, fac.high) == pytest.approx((9.0 * f["pue"].low, 10.0 * f["pue"].value,
                                                            12.0 * f["pue"].high))
    op = fp.carbon.operational_kg
    assert op.low == pytest.approx(fac.low * f["carbon_intensity"].low)
    assert op.high == pytest.approx(fac.high * f["carbon_intensity"].high)
    emb = fp.carbon.embodied_kg
    assert emb is not None
    assert emb.value == pytest.approx(4.0 * f["embodied_per_gpu_hour"].value / 1000)
    assert fp.carbon.total_kg.high == pytest.approx(op.high + emb.high)
    assert fp.water.onsite_l.high == pytest.approx(12.0 * f["wue"].high)


def test_embodied_carbon_about_13_g_per_gpu_hour_and_absent_without_gpus() -> None:
    f = resolve_factors(country="FRA").factors["embodied_per_gpu_hour"]
    assert f.value == pytest.approx((150 + 2500 / 8) * 1000 / (5 * 8760 * 0.8))
    assert footprint(1.0, country="FRA").carbon.embodied_kg is None


def test_hydro_convention_switch_on_a_hydro_heavy_grid() -> None:
    without = resolve_factors(country="NOR", hydro="without").factors["ewif"]
    with_ = resolve_factors(country="NOR", hydro="with").factors["ewif"]
    both = resolve_factors(country="NOR").factors["ewif"]
    # methodology.md section 4: Norway 0.02 L/kWh without reservoir evaporation, 15.1 with.
    assert without.value == pytest.approx(0.02, abs=0.01)
    assert with_.value == pytest.approx(15.1, rel=0.02)
    # The default's central value is the named convention (evaporation counted), not a midpoint;
    # the interval is the union of both conventions' +-25 % intervals.
    assert both.value == pytest.approx(with_.value) and both.alternative == pytest.approx(without.value)
    assert (both.low, both.high) == pytest.approx((without.low, with_.high))
    assert "hydro" in (both.note or "")
    with pytest.raises(InvalidFactorError, match="hydro"):
        resolve_factors(country="NOR", hydro="sometimes")  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"pue": -1.0}, "pue"), ({"pue": 0.9}, "pue"), ({"wue": "lots"}, "wue"),
    ({"carbon_intensity": 420.0}, "carbon_intensity"), ({"carbon_intensity": float("nan")}, "carbon_intensity"),
])
def test_bad_overrides_are_clear_errors(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidFactorError, match=f"^{field}:"):
        footprint(1.0, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidFactorError, match="energy_kwh"):
        footprint(-2.0)


def test_quality_follows_energy_unless_a_factor_is_a_generic_default() -> None:
    measured = Quantity.of(2.0, "kWh", "measured")
    exact = footprint(measured, carbon_intensity=0.2, pue=1.1, wue=0.3, country="FRA")
    assert exact.carbon.operational_kg.quality.value == "measured"
    assert exact.water.onsite_l.quality.value == "measured"
    defaulted = footprint(measured, country="FRA")  # facility unknown: default PUE and WUE
    assert defaulted.energy.facility_kwh.quality.value == "estimated"
    assert defaulted.water.onsite_l.quality.value == "estimated"
    assert footprint(2.0).carbon.total_kg.quality.value == "estimated"


def test_apply_fills_a_report_and_keeps_every_factor() -> None:
    report = RunReport(energy=Energy(it_kwh=Quantity.of(3.0, "kWh", "measured")), gpu_hours=2.0)
    filled = footprint(report.energy.it_kwh, gpu_hours=2.0, country="CAN").apply(report)
    assert filled.carbon is not None and filled.water is not None
    assert {f.name for f in filled.factors} == {"carbon_intensity", "pue", "wue", "ewif", "embodied_per_gpu_hour"}
    assert filled.location.resolved_level == "country"
    assert filled.energy.it_kwh == report.energy.it_kwh and filled.energy.facility_kwh is not None
    # Anyone can recompute the figure from the recorded factors.
    f = {x.name: x.value for x in filled.factors}
    assert filled.carbon.operational_kg.value == pytest.approx(3.0 * f["pue"] * f["carbon_intensity"])


def test_public_api_from_package_root() -> None:
    fp = dia.footprint(energy_kwh=1.0, country="SWE")
    assert fp.carbon.total_kg.value < footprint(1.0, country="POL").carbon.total_kg.value


def test_gpu_board_power_lookup() -> None:
    assert gpu_tdp_w("NVIDIA A100-SXM4-80GB") == 400
    assert gpu_tdp_w("NVIDIA A10") == 150
    assert gpu_tdp_w("NVIDIA H100 PCIe") == 350
    # NVML's own names ("Tesla ...") and card names ("4 x A100") match; the vendor word is not required
    assert gpu_tdp_w("Tesla V100-SXM2-16GB") == 300
    assert gpu_tdp_w("Tesla V100-PCIE-32GB") == 250
    assert gpu_tdp_w("4 x A100") == 400
    assert gpu_tdp_w("NVIDIA GH200 480GB") is None  # a Grace Hopper superchip is not an H200
    assert gpu_tdp_w("banana") is None


def test_subnational_tables_cover_us_canada_and_nordic_zones() -> None:
    grids = tables.subnational_grids()
    countries = {g.country for g in grids.values()}
    assert {"USA", "CAN", "SWE", "NOR"} <= countries
    assert footprint(1.0, region="SE1").location.country == "SWE"
    assert footprint(1.0, region="US-CA").location.region == "california"


def test_network_is_blocked_during_tests() -> None:
    # Conversion never needs the network; the suite-wide guard makes any attempt fail.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(AssertionError, match="network"):
            s.connect(("93.184.216.34", 80))
    finally:
        s.close()


@pytest.mark.slow
def test_cli_factors_json_list_and_errors() -> None:
    out = cli("factors", "--country", "CAN", "--json")
    data = json.loads(out.stdout)
    keys = {"carbon_intensity_kg_per_kwh", "pue", "wue_l_per_kwh", "ewif_l_per_kwh", "embodied_g_per_gpu_hour"}
    assert keys <= set(data)
    for key in keys:
        assert set(data[key]) == {"value", "low", "high", "unit", "source", "granularity", "key", "convention",
                                  "alternative"}
    assert data["carbon_intensity_kg_per_kwh"]["value"] == pytest.approx(0.170, abs=0.001)

    listed = json.loads(cli("factors", "--list", "--json").stdout)
    assert "CAN" in listed["countries"] and "gcp:europe-west9" in listed["cloud_regions"]

    bad = cli("factors", "--country", "CANN", expect_fail=True)
    assert "unknown country" in bad.stderr and "CAN" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    bad = cli("factors", "--cloud-provider", "aws", "--cloud-region", "us-east-9", expect_fail=True)
    assert "us-east-1" in bad.stderr
    bad = cli("factors", "--pue", "-1", expect_fail=True)
    assert "pue" in bad.stderr
    table = cli("factors", "--cloud-provider", "gcp", "--cloud-region", "europe-west9").stdout
    assert "cloud_region" in table and "Google Cloud region carbon data" in table
