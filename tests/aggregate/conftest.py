"""Shared builders for the aggregate tests: reported runs with known figures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from factories import run_report

from dia.record.report import RunReport

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def run(model_id: str, energy_kwh: float, *, parents: list[tuple[str, str]] | None = None,
        kind: str = "finetuning", day: float = 0.0, quality: str = "reported") -> RunReport:
    """A run whose carbon is 0.5 kg/kWh (range 0.25-1.0) and water 2 L/kWh (range 1-4)."""
    e = energy_kwh
    return run_report(model_id, energy_kwh=(e, 0.9 * e, 1.1 * e), quality=quality,
                      carbon_kg=(0.5 * e, 0.25 * e, 1.0 * e), water_l=(2 * e, e, 4 * e),
                      parents=parents or (), kind=kind,
                      started_at=T0 + timedelta(days=day) - timedelta(hours=1))


@pytest.fixture
def make_run() -> Callable[..., RunReport]:
    return run
