"""RAPL meter against a fake powercap directory: deltas, DRAM, wrap-around, unreadable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from measure_fakes import powercap, set_energy

from dia.measure import select_meters
from dia.measure.cpu.rapl import RAPL_ACCURACY, RaplMeter, find_domains


def test_package_and_dram_deltas_with_wrap_around(tmp_path: Path) -> None:
    root = powercap(tmp_path / "powercap", {
        "intel-rapl:0": ("package-0", 900_000_000, 1_000_000_000),
        "intel-rapl:0:0": ("core", 5, 1_000_000_000),  # part of the package: not counted twice
        "intel-rapl:0:1": ("dram", 10_000_000, 1_000_000_000),
        "intel-rapl:1": ("package-1", 0, 1_000_000_000),
    })
    domains = find_domains(root)
    assert sorted(d.name for d in domains) == ["dram", "package-0", "package-1"]
    meter = RaplMeter(domains)
    meter.start()
    set_energy(root, "intel-rapl:0", 990_000_000)  # +90 J
    meter.sample()
    set_energy(root, "intel-rapl:0", 40_000_000)  # wrapped: +10 J to the top, +40 J after
    set_energy(root, "intel-rapl:1", 25_000_000)  # +25 J
    set_energy(root, "intel-rapl:0:1", 13_000_000)  # +3 J DRAM
    readings = {r.component: r for r in meter.stop()}
    assert readings["cpu"].energy_j == pytest.approx(90 + 50 + 25)
    assert readings["ram"].energy_j == pytest.approx(3.0)
    assert readings["cpu"].quality == "measured"


def test_domain_unreadable_mid_run_keeps_what_was_counted(tmp_path: Path) -> None:
    root = powercap(tmp_path / "pc", {"intel-rapl:0": ("package-0", 0, 10**9)})
    meter = RaplMeter(find_domains(root))
    meter.start()
    set_energy(root, "intel-rapl:0", 5_000_000)
    meter.sample()
    (root / "intel-rapl:0" / "energy_uj").unlink()
    (reading,) = meter.stop()
    assert reading.energy_j == pytest.approx(5.0)
    assert any("unreadable" in n for n in meter.notes)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_root_only_counters_fall_back_to_the_estimate(tmp_path: Path) -> None:
    root = powercap(tmp_path / "pc", {"intel-rapl:0": ("package-0", 0, 10**9)})
    (root / "intel-rapl:0" / "energy_uj").chmod(0o000)
    assert find_domains(root) == []


def test_absent_powercap_falls_back_without_error(tmp_path: Path) -> None:
    meters, notes = select_meters("rapl", nvml=False, powercap_root=tmp_path / "absent")
    assert [m.name for m in meters] == ["estimate"]
    assert any("RAPL counters not readable" in n for n in notes)


def test_rapl_without_dram_leaves_ram_to_the_estimate(tmp_path: Path) -> None:
    root = powercap(tmp_path / "pc2", {"intel-rapl:0": ("package-0", 0, 10**9)})
    meters, _ = select_meters("auto", nvml=False, powercap_root=root)
    assert [m.name for m in meters] == ["rapl", "estimate"]
    estimate = meters[1]
    assert not estimate.measure_cpu and estimate.measure_ram  # type: ignore[attr-defined]


def test_rapl_readings_carry_a_stated_interval_not_zero_width(tmp_path: Path) -> None:
    root = powercap(tmp_path / "pc3", {
        "intel-rapl:0": ("package-0", 0, 10**9),
        "intel-rapl:0:0": ("dram", 0, 10**9),
    })
    meter = RaplMeter(find_domains(root))
    meter.start()
    set_energy(root, "intel-rapl:0", 100_000_000)  # 100 J
    set_energy(root, "intel-rapl:0:0", 10_000_000)  # 10 J
    readings = {r.component: r for r in meter.stop()}
    cpu, ram = readings["cpu"], readings["ram"]
    assert (cpu.low_j, cpu.energy_j, cpu.high_j) == pytest.approx((95.0, 100.0, 105.0))  # +-5 %
    assert (ram.low_j, ram.energy_j, ram.high_j) == pytest.approx((9.0, 10.0, 11.0))  # +-10 %
    assert RAPL_ACCURACY == {"cpu": 0.05, "ram": 0.10}
    assert cpu.quality == ram.quality == "measured"
