"""The shared forecast and budget logic."""

from __future__ import annotations

import warnings

import pytest
from dia.integrations._forecast import BudgetWarning, Forecast, Forecaster
from factories import run_report

from dia.record.report import RunReport


def _report(kwh: float, kg: float, litres: float) -> RunReport:
    return run_report(energy_kwh=(kwh, kwh * 0.5, kwh * 2), carbon_kg=(kg, kg * 0.5, kg * 2),
                      water_l=(litres, litres * 0.5, litres * 2), water_onsite_share=1.0,
                      quality="estimated", started_at=None)


def test_extrapolates_linearly_with_the_interval() -> None:
    f = Forecast.extrapolate(energy_kwh=(0.2, 0.1, 0.4), carbon_kg=(0.05, 0.04, 0.06),
                             water_l=(1.0, 0.5, 2.0), steps_done=25, steps_planned=100,
                             elapsed_s=30.0)
    assert (f.energy_kwh, f.energy_kwh_low, f.energy_kwh_high) == pytest.approx((0.8, 0.4, 1.6))
    assert f.carbon_kg == pytest.approx(0.2) and f.water_l == pytest.approx(4.0)
    assert f.duration_s == pytest.approx(120.0)
    assert f.as_metrics()["dia/forecast_carbon_kg"] == pytest.approx(0.2)
    assert "100 steps" in f.describe()
    # figures as dia.show writes them: 0.8 kWh (0.4-1.6) is wide (two figures), 0.2 kg narrow
    assert ("energy 800 Wh (400–1,600), carbon 200 g CO2e (160–240), water 4 L (2–8), 2.0 min"
            in f.describe())


def test_a_run_past_its_plan_is_not_scaled_down() -> None:
    f = Forecast.extrapolate(energy_kwh=(1.0, 1.0, 1.0), carbon_kg=(1.0, 1.0, 1.0),
                             water_l=(1.0, 1.0, 1.0), steps_done=10, steps_planned=5, elapsed_s=1.0)
    assert f.energy_kwh == 1.0 and f.steps_planned == 10


def test_due_after_n_steps_or_after_the_first_epoch_and_only_once() -> None:
    by_steps = Forecaster(after_steps=3)
    assert not by_steps.due(steps_done=2, epoch_ended=True)
    assert by_steps.due(steps_done=3, epoch_ended=False)
    by_epoch = Forecaster()
    assert not by_epoch.due(steps_done=50, epoch_ended=False)
    assert by_epoch.due(steps_done=50, epoch_ended=True)
    by_epoch.make(_report(0.1, 0.01, 0.2), steps_done=50, steps_planned=100, elapsed_s=5.0)
    assert not by_epoch.due(steps_done=100, epoch_ended=True)


def test_budget_warns_once_and_names_what_is_over() -> None:
    fc = Forecaster(budget_kg=0.5, budget_l=100.0)
    with pytest.warns(BudgetWarning, match=r"carbon_kg 1 > budget 0.5"):
        f = fc.make(_report(1.0, 0.1, 1.0), steps_done=1, steps_planned=10, elapsed_s=1.0)
    assert f is not None and f.over_budget == ("carbon_kg 1 > budget 0.5",)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fc.make(_report(1.0, 0.2, 1.0), steps_done=1, steps_planned=10, elapsed_s=1.0)


def test_within_budget_does_not_warn_and_unknown_plan_gives_none() -> None:
    fc = Forecaster(budget_kg=10.0, budget_l=10.0, budget_kwh=10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = fc.make(_report(0.1, 0.1, 0.1), steps_done=5, steps_planned=10, elapsed_s=1.0)
    assert f is not None and f.over_budget == ()
    assert Forecaster().make(_report(0.1, 0.1, 0.1), steps_done=5, steps_planned=None,
                             elapsed_s=1.0) is None


@pytest.mark.parametrize("kwargs", [{"budget_kg": -1.0}, {"budget_l": float("nan")},
                                    {"after_steps": 0}])
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Forecaster(**kwargs)  # type: ignore[arg-type]
