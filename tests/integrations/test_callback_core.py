"""CallbackCore: the part both framework callbacks share, driven without a framework."""

from __future__ import annotations

from typing import Any

import pytest
from dia.integrations._common import CallbackCore
from dia.integrations._forecast import BudgetWarning


def test_explicit_model_id_and_parents_win_and_self_is_dropped(dia_store: Any) -> None:
    core = CallbackCore("me/tuned", parents=["org/base", "me/tuned"], meter="estimate")
    core.start("found/elsewhere", [("org/detected", "finetune")], world_size=1)
    report = core.finish("completed")
    assert report is not None and report.model_id == "me/tuned"
    assert [p.model_id for p in report.parents] == ["org/base"]
    assert dia_store.get_run(report.id) is not None
    detected = CallbackCore(meter="estimate", store=False)
    detected.start("me/found", [("org/detected", "finetune"), ("me/found", "finetune")], world_size=1)
    found = detected.finish("completed")
    assert found is not None and found.model_id == "me/found"
    assert [p.model_id for p in found.parents] == ["org/detected"]


def test_phases_nest_and_close_with_the_failure(dia_store: Any) -> None:
    core = CallbackCore("me/tuned", meter="estimate")
    core.start(world_size=1)
    outer = core.open_phase("fit")
    inner = core.open_phase("validate")
    core.close_phase(outer)  # not the innermost: left open
    assert core.open_phases == 2
    core.close_phase(inner)
    assert core.open_phases == 1
    core.count(steps=2, samples=16)
    report = core.finish("failed", RuntimeError("boom"))
    assert report is not None and report.status.value == "failed"
    assert [p.name for p in report.phases] == ["fit/validate", "fit"]
    assert (report.workload.steps, report.workload.samples) == (2, 16)
    assert core.finish("completed") is report  # once stopped, stays stopped


def test_forecast_is_made_once_warns_over_budget_and_is_stored(dia_store: Any) -> None:
    core = CallbackCore("me/tuned", meter="estimate", forecast_after_steps=2, budget_kwh=0.0)
    run = core.start(world_size=1)
    core.count(steps=1)
    assert core.maybe_forecast(steps_done=1, epoch_ended=False, steps_planned=lambda: 10) is None
    with pytest.warns(BudgetWarning):
        first = core.maybe_forecast(steps_done=2, epoch_ended=False, steps_planned=lambda: 10)
    assert first is not None and core.forecast is first
    assert "dia/forecast_energy_kwh" in core.pending_metrics
    assert core.maybe_forecast(steps_done=3, epoch_ended=True, steps_planned=lambda: 10) is None
    metrics = core.live_metrics()
    assert metrics is not None and set(metrics) >= {"dia/energy_kwh", "dia/carbon_kg", "dia/water_l"}
    core.finish("completed")
    stored = dia_store.get_run(run.id)
    assert stored.extra["forecast"] == first.as_dict()


def test_a_stopped_run_is_resumed_by_id(dia_store: Any) -> None:
    first = CallbackCore("me/tuned", meter="estimate")
    run = first.start(world_size=1)
    first.count(steps=3)
    first.finish("interrupted")
    again = CallbackCore("me/tuned", meter="estimate")
    resumed = again.start(world_size=1, run_id=run.id)
    again.count(steps=2)
    report = again.finish("completed")
    assert resumed.id == run.id and report is not None and report.workload.steps == 5
