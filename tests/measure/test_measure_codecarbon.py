"""meter="codecarbon" wraps CodeCarbon's tracker (a fake here: the real one takes seconds)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from dia.measure import select_meters
from dia.measure.codecarbon_meter import CodeCarbonMeter


class FakeTracker:
    def __init__(self, **kw: Any) -> None:
        self.kw = kw
        self._total_cpu_energy = SimpleNamespace(kWh=0.0)
        self._total_gpu_energy = SimpleNamespace(kWh=0.0)
        self._total_ram_energy = SimpleNamespace(kWh=0.0)
        self.started = self.stopped = False

    def start(self) -> None:
        self.started = True

    def stop(self) -> float:
        self.stopped = True
        self._total_cpu_energy.kWh += 0.002
        return 0.0


def test_codecarbon_figures_with_dia_interval() -> None:
    made: list[FakeTracker] = []
    meter = CodeCarbonMeter(country="fra", tracker_factory=lambda **kw: made.append(FakeTracker(**kw)) or made[-1])
    meter.start()
    tracker = made[0]
    assert tracker.started and tracker.kw["country_iso_code"] == "FRA" and tracker.kw["save_to_file"] is False
    tracker._total_cpu_energy.kWh = 0.001
    tracker._total_ram_energy.kWh = 0.0005
    assert {r.component for r in meter.read()} == {"cpu", "ram"}  # no GPU seen: no GPU line
    readings = {r.component: r for r in meter.stop()}
    assert tracker.stopped
    assert readings["cpu"].kwh == pytest.approx(0.003)
    assert readings["cpu"].low_j == pytest.approx(0.8 * readings["cpu"].energy_j)
    assert readings["ram"].quality == "estimated"


def test_select_codecarbon_meter() -> None:
    meters, _ = select_meters("codecarbon", country="DEU")
    assert [m.name for m in meters] == ["codecarbon"]
