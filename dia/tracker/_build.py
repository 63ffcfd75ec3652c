"""From meter readings to a report: energy per component, carbon and water, fallbacks.

>>> from dia.measure.base import ComponentEnergy
>>> e = energy_from([ComponentEnergy("cpu", 3600.0, 1800.0, 7200.0, "estimated")])
>>> (e.it_kwh.value, e.it_kwh.quality.value)
(0.001, 'estimated')
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from dia.errors import DIAWarning
from dia.measure.base import COMPONENTS, ComponentEnergy
from dia.record.report import Energy, Quantity, RunReport

_KWH = "kWh"


def quantity_kwh(energy_j: float, low_j: float, high_j: float, quality: str) -> Quantity:
    """A kWh quantity from joules; the interval is widened to hold the value (rounding)."""
    value = max(0.0, energy_j) / 3.6e6
    low = min(value, max(0.0, low_j) / 3.6e6)
    high = max(value, high_j / 3.6e6)
    return Quantity.of(value, _KWH, quality, low=low, high=high)


def combine(readings: list[ComponentEnergy]) -> dict[str, ComponentEnergy]:
    """Per component, the sum over meters (two GPU meters add up)."""
    out: dict[str, ComponentEnergy] = {}
    for r in readings:
        out[r.component] = out[r.component] + r if r.component in out else r
    return out


def energy_from(readings: list[ComponentEnergy], *, offset: Energy | None = None,
                nothing_quality: str = "unavailable") -> Energy:
    """The report's :class:`Energy`: components and their sum, plus a resumed run's energy.

    With no reading at all, IT energy is zero with ``nothing_quality`` (``measured`` for a
    rank whose devices are counted by another rank, ``unavailable`` when meters failed).
    """
    per = combine(readings)
    fields: dict[str, Quantity | None] = {}
    for c in COMPONENTS:
        q = quantity_kwh(per[c].energy_j, per[c].low_j, per[c].high_j, per[c].quality) if c in per else None
        before = getattr(offset, f"{c}_kwh") if offset is not None else None
        if q is not None and before is not None:
            q = q + before
        fields[f"{c}_kwh"] = q if q is not None else before
    parts = [q for q in fields.values() if q is not None]
    it: Quantity | None = None
    for q in parts:
        it = q if it is None else it + q
    if it is None:
        it = offset.it_kwh if offset is not None else Quantity.zero(_KWH, nothing_quality)
    return Energy(it_kwh=it, **fields)


def total_j(readings: list[ComponentEnergy]) -> float:
    return sum(r.energy_j for r in readings)


def convert(report: RunReport, options: dict[str, Any]) -> RunReport:
    """Carbon and water through :func:`dia.convert.footprint`; energy-only if unavailable."""
    try:
        from dia.convert import footprint
    except ImportError:
        return _noted(report, "dia.convert is not available: carbon and water not computed")
    gpu_name = report.hardware.gpus[0].name if report.hardware.gpus else None
    fp = footprint(report.energy.it_kwh, gpu_hours=report.gpu_hours or 0.0, gpu_name=gpu_name,
                   **{k: v for k, v in options.items() if v is not None})
    return fp.apply(report)


def _noted(report: RunReport, note: str) -> RunReport:
    if note not in report.notes:
        report = report.model_copy(update={"notes": [*report.notes, note]})
    return report


def write_fallback(report: RunReport, reason: str, *, warned: bool) -> Path | None:
    """Write the report to ``dia-fallback-<id>.json`` in the working directory; warn once."""
    path = Path.cwd() / f"dia-fallback-{report.id}.json"
    try:
        path.write_text(report.to_json(indent=2), encoding="utf-8")
    except OSError as exc:
        if not warned:
            warnings.warn(f"DIA: {reason}; the fallback file {path} cannot be written either "
                          f"({exc.strerror}): run {report.id} is not saved", DIAWarning, stacklevel=3)
        return None
    if not warned:
        warnings.warn(f"DIA: {reason}; run {report.id} written to {path} (load it with `dia import`)",
                      DIAWarning, stacklevel=3)
    return path
