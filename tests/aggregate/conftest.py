"""Shared builders for the aggregate tests: reported runs with known figures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from dia.record.report import Carbon, Energy, Parent, Quantity, RunReport, Water

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def run(model_id: str, energy_kwh: float, *, parents: list[tuple[str, str]] | None = None,
        kind: str = "finetuning", day: float = 0.0, quality: str = "reported") -> RunReport:
    """A run whose carbon is 0.5 kg/kWh (range 0.25-1.0) and water 2 L/kWh (range 1-4)."""
    carbon = Quantity.of(0.5 * energy_kwh, "kgCO2e", quality, low=0.25 * energy_kwh, high=1.0 * energy_kwh)
    half = Quantity.of(energy_kwh, "L", quality, low=0.5 * energy_kwh, high=2.0 * energy_kwh)
    ended = T0 + timedelta(days=day)
    return RunReport(
        model_id=model_id, kind=kind, started_at=ended - timedelta(hours=1), ended_at=ended,
        parents=[Parent(model_id=p, relation=r) for p, r in (parents or [])],
        energy=Energy(it_kwh=Quantity.of(energy_kwh, "kWh", quality, low=0.9 * energy_kwh, high=1.1 * energy_kwh)),
        carbon=Carbon(operational_kg=carbon, total_kg=carbon),
        water=Water(onsite_l=half, offsite_l=half, total_l=half + half),
    )


@pytest.fixture
def make_run() -> Callable[..., RunReport]:
    return run
