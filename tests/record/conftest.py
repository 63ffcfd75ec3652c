"""A factory of valid run reports for the record tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from dia.record.report import Carbon, Energy, Quantity, RunReport, Water

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=timezone.utc)


def build_report(energy_kwh: float = 1.0, *, carbon_kg: float | None = None, water_l: float | None = None,
                 start_offset_h: float = 0.0, **fields: Any) -> RunReport:
    """A completed run with the given IT energy; carbon and water only when given."""
    spread = 0.1 * energy_kwh
    data: dict[str, Any] = {
        "energy": Energy(it_kwh=Quantity.of(energy_kwh, "kWh", "measured",
                                            low=energy_kwh - spread, high=energy_kwh + spread)),
        "started_at": T0 + timedelta(hours=start_offset_h),
        "ended_at": T0 + timedelta(hours=start_offset_h + 1),
        "duration_s": 3600.0,
    }
    if carbon_kg is not None:
        total = Quantity.of(carbon_kg, "kgCO2e", "estimated", low=0.5 * carbon_kg, high=2 * carbon_kg)
        data["carbon"] = Carbon(operational_kg=total, total_kg=total)
    if water_l is not None:
        half = Quantity.of(water_l / 2, "L", "estimated")
        data["water"] = Water(onsite_l=half, offsite_l=half, total_l=half + half)
    data.update(fields)
    return RunReport(**data)


@pytest.fixture
def make_report() -> Callable[..., RunReport]:
    return build_report
