"""Issue 14, case 8: embodied carbon by accelerator class, always ``estimated``.

Before the fix every accelerator got the same A100-class figure (about 13 g per GPU-hour)
and the embodied figure carried the energy's tier (``measured`` for measured energy).
"""

from __future__ import annotations

import csv
from importlib.resources import files

import pytest

import dia
from dia.convert import convert_report, embodied, footprint, resolve_factors, tables
from dia.convert.embodied import embodied_factor, find_class, gpu_hours_interval, match_length
from dia.errors import InvalidFactorError
from dia.record.report import GPU, Energy, Hardware, Location, Quantity, RunReport

T4, A100, H100 = "Tesla T4", "NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3"


def _per_gpu_hour(gpu_name: str | None) -> float:
    return resolve_factors(country="FRA", gpu_name=gpu_name).factors["embodied_per_gpu_hour"].value


def _rows() -> list[dict[str, str]]:
    text = (files("dia.convert") / "data" / "embodied-carbon.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def test_case_8_per_gpu_hour_grows_with_the_accelerator_class() -> None:
    t4, a100, h100 = _per_gpu_hour(T4), _per_gpu_hour(A100), _per_gpu_hour(H100)
    assert t4 < a100 < h100  # before: three identical figures
    for name in (T4, A100, H100):
        assert resolve_factors(country="FRA", gpu_name=name).factors["embodied_per_gpu_hour"].granularity == "hardware"


def test_case_8_embodied_is_estimated_even_for_measured_energy() -> None:
    fp = footprint(10.0, gpu_hours=4.0, gpu_name=A100, energy_quality="measured", country="FRA", pue=1.1)
    assert fp.carbon.embodied_kg is not None
    assert fp.energy.it_kwh.quality == "measured"
    assert fp.carbon.embodied_kg.quality == "estimated"  # before: measured
    # A total is never better than its worst part.
    assert fp.carbon.total_kg.quality == "estimated"


def test_nvml_and_card_spellings_reach_the_same_class() -> None:
    for name in ("NVIDIA A100-SXM4-80GB", "NVIDIA A100-PCIE-40GB", "A100", "4 x A100", "8xA100", "nvidia a100 80gb pcie"):
        assert find_class(name) is not None and find_class(name).accelerator == "A100", name  # type: ignore[union-attr]
    assert find_class("Tesla T4").accelerator == "T4"  # type: ignore[union-attr]
    assert find_class("Tesla V100-SXM2-32GB").accelerator == "V100"  # type: ignore[union-attr]
    assert find_class("NVIDIA H100 PCIe").accelerator == "H100"  # type: ignore[union-attr]
    assert find_class("NVIDIA A10G").accelerator == "A10"  # type: ignore[union-attr]
    assert find_class("NVIDIA L4").accelerator == "L4"  # type: ignore[union-attr]
    assert find_class("TPU v4").accelerator == "TPU v4"  # type: ignore[union-attr]
    assert find_class("tpu-v3-8").accelerator == "TPU v3"  # type: ignore[union-attr]
    # Longer codes that merely contain a class name are other accelerators.
    assert find_class("NVIDIA L40S") is None
    assert find_class("NVIDIA GH200 480GB") is None
    assert match_length("NVIDIA A10", "NVIDIA A100-SXM4-80GB") is None


def test_unknown_or_missing_accelerator_gets_the_whole_table_as_interval_and_a_note() -> None:
    known = [embodied_factor(c.accelerator) for c in embodied.accelerator_classes()]
    for name in ("Banana Accelerator 9000", None):
        f = embodied_factor(name)
        assert f.granularity == "default"
        assert f.low == pytest.approx(min(k.low for k in known))
        assert f.high == pytest.approx(max(k.high for k in known))
        assert f.note and "interval from the smallest class" in f.note
        # wider than any single class
        assert all(f.high - f.low > k.high - k.low for k in known)
    fp = footprint(1.0, gpu_hours=2.0, gpu_name="Banana Accelerator 9000", country="FRA")
    assert any(n.startswith("embodied carbon: accelerator not in the embodied-carbon table") for n in fp.notes)
    assert not any(n.startswith("embodied carbon:") for n in footprint(1.0, gpu_hours=2.0, gpu_name=H100,
                                                                          country="FRA").notes)


def test_gpu_hours_interval_is_carried_endpoint_wise() -> None:
    f = embodied_factor(H100)
    for hours in ((10.0, 8.0, 15.0), dia.Interval(value=10.0, low=8.0, high=15.0)):
        emb = footprint(1.0, gpu_hours=hours, gpu_name=H100, country="FRA").carbon.embodied_kg
        assert emb is not None
        assert emb.value == pytest.approx(10.0 * f.value / 1000)
        assert emb.low == pytest.approx(8.0 * f.low / 1000)
        assert emb.high == pytest.approx(15.0 * f.high / 1000)
        assert emb.quality == "estimated"
    point = footprint(1.0, gpu_hours=10.0, gpu_name=H100, country="FRA").carbon.embodied_kg
    assert point is not None and point.high == pytest.approx(10.0 * f.high / 1000)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "ten", (5.0, 6.0, 7.0), (1.0, 2.0), True])
def test_bad_gpu_hours_are_refused_with_the_field_named(bad: object) -> None:
    with pytest.raises(InvalidFactorError, match="gpu_hours"):
        gpu_hours_interval(bad)  # type: ignore[arg-type]


def test_no_gpu_hours_no_embodied_carbon() -> None:
    assert footprint(1.0, gpu_name=H100, country="FRA").carbon.embodied_kg is None
    assert footprint(1.0, gpu_hours=0.0, gpu_name=H100, country="FRA").carbon.embodied_kg is None


def test_the_tracker_path_uses_the_reports_gpu() -> None:
    def report(gpu: str) -> RunReport:
        return RunReport(energy=Energy(it_kwh=Quantity.of(3.0, "kWh", "measured")), gpu_hours=2.0,
                         hardware=Hardware(gpus=[GPU(name=gpu, count=1)]), location=Location(country="FRA"))

    t4 = convert_report(report(T4)).carbon
    h100 = convert_report(report(H100)).carbon
    assert t4 is not None and h100 is not None and t4.embodied_kg is not None and h100.embodied_kg is not None
    assert t4.embodied_kg.value < h100.embodied_kg.value
    assert h100.embodied_kg.quality == "estimated"


def test_every_table_row_has_a_source_and_a_coherent_interval() -> None:
    rows = _rows()
    items = {r["item"] for r in rows}
    classes = [r for r in rows if r["accelerator"]]
    assert {"T4", "V100", "A100", "A10", "L4", "H100", "TPU v3", "TPU v4"} <= {r["accelerator"] for r in classes}
    for r in rows:
        assert r["source"].strip(), r["item"]
        if r["low_kgco2e"]:
            assert float(r["low_kgco2e"]) <= float(r["embodied_kgco2e"]) <= float(r["high_kgco2e"]), r["item"]
    for r in classes:
        assert r["node"] in items and int(r["gpus_per_node"]) >= 1, r["item"]
        value, low, high = (float(r[k]) for k in ("embodied_kgco2e", "low_kgco2e", "high_kgco2e"))
        spread = embodied.SCALED_SPREAD if r["method"] == "scaled" else embodied.REPORTED_SPREAD
        assert (low, high) == pytest.approx((value * spread[0], value * spread[1]), abs=1.0), r["item"]


def test_scaled_rows_follow_the_silicon_area_of_the_a100_anchor() -> None:
    rows = _rows()
    anchor = next(r for r in rows if r["accelerator"] == "A100")
    per_gb_mm2 = 15.5  # Boavizta: VRAM die area per GB

    def area(r: dict[str, str]) -> float:
        return float(r["die_mm2"]) + per_gb_mm2 * float(r["memory_gb"])

    for r in rows:
        if r["method"] == "scaled":
            expected = float(anchor["embodied_kgco2e"]) * area(r) / area(anchor)
            assert float(r["embodied_kgco2e"]) == pytest.approx(expected, abs=0.5), r["item"]
            assert "scaled" in r["source"], r["item"]


def test_tables_reader_keeps_the_old_columns() -> None:
    for r in tables.embodied_table():
        assert {"item", "embodied_kgco2e", "lifetime_years", "source"} <= set(r)
    assert any(r["item"].startswith("datacenter GPU") for r in tables.embodied_table())
