"""The one place tests build run reports.

Test folders keep their short builders (``make_report``, ``make_run``, ``_report``...) as thin
wrappers over :func:`run_report`, so a change to the report model is made here once.
Importable as ``factories`` from any test: ``tests/`` is on ``sys.path`` (rootdir conftest).

Figures are ``value`` or ``(value, low, high)``; water is a total split between on-site and
off-site by ``water_onsite_share``.

>>> r = run_report("org/a", energy_kwh=(2.0, 1.8, 2.2), carbon_kg=1.0)
>>> (r.energy.it_kwh.value, r.energy.it_kwh.low, r.carbon.total_kg.value, r.water)
(2.0, 1.8, 1.0, None)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Union

from dia.record.report import Carbon, Energy, Parent, Quantity, RunReport, Water

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=timezone.utc)

Figure = Union[float, tuple[float, float, float]]


def quantity(figure: Figure, unit: str, quality: str = "measured") -> Quantity:
    """A Quantity from ``value`` or ``(value, low, high)``."""
    if isinstance(figure, tuple):
        value, low, high = figure
        return Quantity.of(value, unit, quality, low=low, high=high)
    return Quantity.of(figure, unit, quality)


def _scaled(figure: Figure, share: float) -> Figure:
    if isinstance(figure, tuple):
        return (figure[0] * share, figure[1] * share, figure[2] * share)
    return figure * share


def run_report(model_id: str | None = None, *, energy_kwh: Figure = 1.0, quality: str = "measured",
               carbon_kg: Figure | None = None, carbon_quality: str | None = None,
               water_l: Figure | None = None, water_quality: str | None = None,
               water_onsite_share: float = 0.5,
               parents: Sequence[tuple[str, str] | Parent | str] = (),
               started_at: datetime | None = T0, hours: float = 1.0, **fields: Any) -> RunReport:
    """A valid run: IT energy, and carbon (operational = total) and water only when given.

    ``parents`` are ``(model_id, relation)`` pairs, or anything RunReport takes. ``quality`` applies to every figure unless ``carbon_quality``/``water_quality`` say
    otherwise; ``started_at`` plus ``hours`` gives ``ended_at`` (``started_at=None``: no times). Any
    other RunReport field passes through ``fields`` and wins over the defaults.
    """
    data: dict[str, Any] = {"energy": Energy(it_kwh=quantity(energy_kwh, "kWh", quality))}
    if started_at is not None:
        data["started_at"] = started_at
        data["ended_at"] = started_at + timedelta(hours=hours)
    if model_id is not None:
        data["model_id"] = model_id
    if parents:
        data["parents"] = [Parent(model_id=p[0], relation=p[1]) if isinstance(p, tuple) else p
                           for p in parents]
    if carbon_kg is not None:
        total = quantity(carbon_kg, "kgCO2e", carbon_quality or quality)
        data["carbon"] = Carbon(operational_kg=total, total_kg=total)
    if water_l is not None:
        q = water_quality or quality
        onsite = quantity(_scaled(water_l, water_onsite_share), "L", q)
        offsite = quantity(_scaled(water_l, 1 - water_onsite_share), "L", q)
        data["water"] = Water(onsite_l=onsite, offsite_l=offsite, total_l=onsite + offsite)
    data.update(fields)
    return RunReport(**data)


def report_dict(**it_kwh: object) -> dict[str, object]:
    """A report as raw JSON-like data (for validation tests), its IT energy overridable."""
    it = {"value": 1.0, "unit": "kWh", "quality": "measured", **it_kwh}
    return {"model_id": "org/tiny", "energy": {"it_kwh": it}}
