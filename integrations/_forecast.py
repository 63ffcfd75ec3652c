"""Forecast a whole training run's footprint from its first steps, and warn on a budget.

Like carbontracker, the forecast extrapolates linearly: after the first epoch (or after
``after_steps`` optimizer steps) the energy, carbon and water so far are divided by the
fraction of planned steps already done. Both framework callbacks share this logic.

>>> f = Forecast.extrapolate(energy_kwh=(0.1, 0.08, 0.12), carbon_kg=(0.03, 0.02, 0.04),
...                          water_l=(0.2, 0.1, 0.3), steps_done=10, steps_planned=100,
...                          elapsed_s=60.0)
>>> round(f.energy_kwh, 6), round(f.duration_s)
(1.0, 600)
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from dia.record.report import RunReport

logger = logging.getLogger("dia.integrations")

Triple = tuple[float, float, float]  # value, low, high


class BudgetWarning(UserWarning):
    """The forecast of a run's footprint exceeds the budget given to a DIA callback."""


@dataclass(frozen=True)
class Forecast:
    """Predicted footprint of the whole run (central value with a low-high interval)."""

    steps_done: int
    steps_planned: int
    elapsed_s: float
    duration_s: float
    energy_kwh: float
    energy_kwh_low: float
    energy_kwh_high: float
    carbon_kg: float
    carbon_kg_low: float
    carbon_kg_high: float
    water_l: float
    water_l_low: float
    water_l_high: float
    over_budget: tuple[str, ...] = field(default=())

    @classmethod
    def extrapolate(
        cls,
        *,
        energy_kwh: Triple,
        carbon_kg: Triple,
        water_l: Triple,
        steps_done: int,
        steps_planned: int,
        elapsed_s: float,
    ) -> Forecast:
        """Scale the figures so far by ``steps_planned / steps_done``."""
        if steps_done <= 0 or steps_planned <= 0:
            raise ValueError("a forecast needs at least one step done and a planned step count")
        # A run can stop early but never plans fewer steps than it has done.
        scale = max(steps_planned, steps_done) / steps_done
        e, c, w = ([v * scale for v in t] for t in (energy_kwh, carbon_kg, water_l))
        return cls(
            steps_done=steps_done, steps_planned=max(steps_planned, steps_done),
            elapsed_s=elapsed_s, duration_s=elapsed_s * scale,
            energy_kwh=e[0], energy_kwh_low=e[1], energy_kwh_high=e[2],
            carbon_kg=c[0], carbon_kg_low=c[1], carbon_kg_high=c[2],
            water_l=w[0], water_l_low=w[1], water_l_high=w[2],
        )

    def as_metrics(self, prefix: str = "dia/forecast_") -> dict[str, float]:
        """Scalars for a training logger: ``dia/forecast_energy_kwh`` and friends."""
        return {
            f"{prefix}energy_kwh": self.energy_kwh,
            f"{prefix}carbon_kg": self.carbon_kg,
            f"{prefix}water_l": self.water_l,
            f"{prefix}duration_s": self.duration_s,
        }

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict, as stored under ``extra["forecast"]`` of the run report."""
        return {
            "steps_done": self.steps_done, "steps_planned": self.steps_planned,
            "elapsed_s": self.elapsed_s, "duration_s": self.duration_s,
            "energy_kwh": {"value": self.energy_kwh, "low": self.energy_kwh_low, "high": self.energy_kwh_high},
            "carbon_kg": {"value": self.carbon_kg, "low": self.carbon_kg_low, "high": self.carbon_kg_high},
            "water_l": {"value": self.water_l, "low": self.water_l_low, "high": self.water_l_high},
            "over_budget": list(self.over_budget),
        }

    def describe(self) -> str:
        """One line, figures as dia.show writes them, e.g. ``forecast for 100 steps (from 10):
        energy 1 kWh (0.8–1.2), carbon 300 g CO2e (200–400), water 2 L (1–3), 10.0 min``."""
        from dia.show import format_range

        return (
            f"forecast for {self.steps_planned:,} steps (from {self.steps_done:,}): "
            f"energy {format_range(self.energy_kwh, self.energy_kwh_low, self.energy_kwh_high, 'energy_kwh')}, "
            f"carbon {format_range(self.carbon_kg, self.carbon_kg_low, self.carbon_kg_high, 'carbon_kg')}, "
            f"water {format_range(self.water_l, self.water_l_low, self.water_l_high, 'water_l')}, "
            f"{self.duration_s / 60:.1f} min"
        )


def _triple(q: object) -> Triple:
    if q is None:
        return (0.0, 0.0, 0.0)
    return (float(q.value), float(q.low), float(q.high))  # type: ignore[attr-defined]


def figures(report: RunReport) -> dict[str, Triple]:
    """Energy (IT, kWh), carbon (total, kg) and water (total, L) of a report as triples."""
    return {
        "energy_kwh": _triple(report.energy.it_kwh),
        "carbon_kg": _triple(report.carbon.total_kg if report.carbon else None),
        "water_l": _triple(report.water.total_l if report.water else None),
    }


class Forecaster:
    """Decides when to forecast (once) and warns once when a budget would be exceeded.

    >>> fc = Forecaster(after_steps=5, budget_kg=0.01)
    >>> fc.due(steps_done=4, epoch_ended=False), fc.due(steps_done=5, epoch_ended=False)
    (False, True)
    """

    def __init__(
        self,
        *,
        after_steps: int | None = None,
        budget_kg: float | None = None,
        budget_l: float | None = None,
        budget_kwh: float | None = None,
    ) -> None:
        for name, v in (("budget_kg", budget_kg), ("budget_l", budget_l), ("budget_kwh", budget_kwh)):
            if v is not None and (not math.isfinite(v) or v < 0):
                raise ValueError(f"{name} must be a non-negative number (got {v!r})")
        if after_steps is not None and after_steps < 1:
            raise ValueError(f"forecast_after_steps must be at least 1 (got {after_steps!r})")
        self.after_steps = after_steps
        self.budgets = {"carbon_kg": budget_kg, "water_l": budget_l, "energy_kwh": budget_kwh}
        self.forecast: Forecast | None = None
        # A forecast restored from a checkpoint (as_dict form): a resumed run makes no new one.
        self.restored: dict[str, object] | None = None
        self._warned = False

    def due(self, *, steps_done: int, epoch_ended: bool) -> bool:
        """True when no forecast exists yet and the trigger (N steps or first epoch) is reached."""
        if self.forecast is not None or self.restored is not None or steps_done <= 0:
            return False
        if self.after_steps is not None:
            return steps_done >= self.after_steps
        return epoch_ended

    def make(
        self, report: RunReport, *, steps_done: int, steps_planned: int | None, elapsed_s: float
    ) -> Forecast | None:
        """Forecast from a snapshot; ``None`` if the planned step count is unknown."""
        if not steps_planned or not math.isfinite(steps_planned) or steps_planned <= 0:
            return None
        f = Forecast.extrapolate(
            **figures(report), steps_done=steps_done, steps_planned=int(steps_planned),
            elapsed_s=elapsed_s,
        )
        over = tuple(
            f"{name} {getattr(f, name):.4g} > budget {limit:.4g}"
            for name, limit in self.budgets.items()
            if limit is not None and getattr(f, name) > limit
        )
        f = Forecast(**{**f.__dict__, "over_budget": over})
        self.forecast = f
        logger.info("dia: %s", f.describe())
        if over and not self._warned:
            self._warned = True
            warnings.warn(
                f"DIA forecast exceeds the budget: {'; '.join(over)} ({f.describe()})",
                BudgetWarning, stacklevel=3,
            )
        return f
