"""One interval type: Quantity is an Interval with a unit and a quality, and rollups, the
store's totals and the dashboard all use the same Interval."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import dia
from dia.aggregate import rollup as rollup_module
from dia.record.report import Interval, Quantity
from dia.record.store import ModelTotals


def test_interval_adds_endpoint_wise_and_validates_like_quantity() -> None:
    total = Interval(value=2.0, low=1.5, high=3.0) + Interval.from_triple((1.0, 0.5, 2.0))
    assert total == Interval(value=3.0, low=2.0, high=5.0)
    assert Interval(value=4.0).triple() == (4.0, 4.0, 4.0)  # ends default to the value
    for bad in ({"value": -1.0}, {"value": 1.0, "low": 2.0, "high": 3.0}, {"value": float("nan")},
                {"value": 1.0, "unit": "kWh"}):
        with pytest.raises(ValidationError):
            Interval(**bad)
    with pytest.raises(ValidationError):
        total.value = 1.0  # type: ignore[misc]  # frozen


def test_quantity_is_the_interval_plus_unit_and_quality() -> None:
    q = Quantity.of(2.0, "kWh", "estimated", low=1.0, high=3.0)
    assert isinstance(q, Interval)
    assert q.model_dump() == {"value": 2.0, "low": 1.0, "high": 3.0, "unit": "kWh", "quality": "estimated"}
    assert Interval(value=1.0) + q == Interval(value=3.0, low=2.0, high=4.0)


def test_everyone_uses_the_same_interval() -> None:
    assert dia.Interval is Interval
    assert rollup_module.Interval is Interval
    totals = ModelTotals("o/m", 1, (1.0, 0.5, 2.0, 3.0, 2.0, 4.0, 5.0, 4.0, 6.0), ("measured",))
    assert isinstance(totals.energy_kwh, Interval)
    assert (totals.energy_kwh.triple(), totals.carbon_kg.triple(), totals.water_l.triple()) == (
        (1.0, 0.5, 2.0), (3.0, 2.0, 4.0), (5.0, 4.0, 6.0))
