"""A factory of valid run reports for the record tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from factories import T0, run_report

from dia.record.report import RunReport


def build_report(energy_kwh: float = 1.0, *, carbon_kg: float | None = None, water_l: float | None = None,
                 start_offset_h: float = 0.0, **fields: Any) -> RunReport:
    """A completed one-hour run with the given IT energy (+-10%); carbon (range x0.5-x2)
    and water only when given."""
    return run_report(
        energy_kwh=(energy_kwh, 0.9 * energy_kwh, 1.1 * energy_kwh),
        carbon_kg=None if carbon_kg is None else (carbon_kg, 0.5 * carbon_kg, 2 * carbon_kg),
        water_l=water_l, carbon_quality="estimated", water_quality="estimated",
        **{"started_at": T0 + timedelta(hours=start_offset_h),
           "ended_at": T0 + timedelta(hours=start_offset_h + 1), "duration_s": 3600.0, **fields})


@pytest.fixture
def make_report() -> Callable[..., RunReport]:
    return build_report
