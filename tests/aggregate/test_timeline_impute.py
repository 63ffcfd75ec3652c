"""Timeline (cumulative family footprint by date) and imputation priors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dia.aggregate.impute import GPU_HOUR_PRIORS, impute_member, prior_gpu_hours, recorded_gpu
from dia.aggregate.timeline import timeline
from dia.link.relations import Relation
from dia.record.report import RunReport
from dia.record.store import Store


def test_timeline_is_cumulative_by_run_date(tmp_path: Path, make_run: Callable[..., RunReport]) -> None:
    store = Store(f"sqlite:///{tmp_path}/t.db")
    store.save_runs([
        make_run("o/base", 100.0, day=0),
        make_run("o/ft", 10.0, parents=[("o/base", "finetune")], day=5),
        make_run("o/ft2", 20.0, parents=[("o/base", "finetune")], day=3),
        make_run("o/ft", 50.0, kind="inference", day=9),  # use: not part of the family cost
        make_run("o/other", 999.0, day=1),
    ])
    # A card-reported run without dates is placed at the model's card date.
    card_run = make_run("o/card", 1.0, parents=[("o/base", "adapter")]).model_copy(
        update={"started_at": None, "ended_at": None, "source": "card"})
    store.upsert_model("o/card", created_at=datetime(2025, 1, 4, 12, tzinfo=timezone.utc))
    store.save_runs([card_run])
    points = timeline("o/base", store=store)
    assert [p.member for p in points] == ["o/base", "o/ft2", "o/card", "o/ft"]
    assert [p.energy_kwh for p in points] == pytest.approx([100.0, 120.0, 121.0, 131.0])
    assert [p.carbon_kg for p in points] == pytest.approx([50.0, 60.0, 60.5, 65.5])
    assert all(p.model_id == "o/base" for p in points)
    both = timeline(["o/base", "o/other"], store=store)
    assert [p.date for p in both] == sorted(p.date for p in both)
    assert {p.model_id for p in both} == {"o/base", "o/other"}
    store.close()


def test_every_relation_has_a_documented_prior() -> None:
    assert {r.value for r in Relation} <= set(GPU_HOUR_PRIORS)
    # The DIA paper's priors.
    assert prior_gpu_hours("adapter", "lora") == 1.0
    assert prior_gpu_hours("adapter", "qlora") == 1.5
    assert prior_gpu_hours("quantization", "gguf") == 0.5
    assert prior_gpu_hours("merge") == 0.2
    assert prior_gpu_hours("distillation") == 200.0
    assert prior_gpu_hours("finetune") == 100.0
    assert prior_gpu_hours("duplicate") == 0.0
    assert prior_gpu_hours("pretraining") is None and impute_member("pretraining", gpu_name=None) is None


def test_imputation_scales_with_prior_and_uses_recorded_gpu() -> None:
    ft = impute_member("finetune", gpu_name=None)
    lora = impute_member("adapter", "lora", gpu_name=None)
    assert ft is not None and lora is not None
    assert ft.carbon_kg.value == pytest.approx(100 * lora.carbon_kg.value)
    # 100 GPU-h x 400 W x 70 % x PUE 1.2 = 33.6 kWh facility energy
    assert ft.energy_kwh.value == pytest.approx(33.6)
    assert ft.energy_kwh.low < ft.energy_kwh.value < ft.energy_kwh.high
    assert recorded_gpu({"hardware": {"gpus": [{"name": "NVIDIA H100", "count": 8}]}}) == "NVIDIA H100"
    assert recorded_gpu({}) is None


def test_imputation_ignores_this_machines_place_and_uses_the_gpus_embodied_figure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from dia import settings
    from dia.convert import embodied

    monkeypatch.delenv(settings.ENV_COUNTRY, raising=False)
    unset = impute_member("finetune", gpu_name="Tesla T4")
    # A silent member trained somewhere unknown: Norway's near-zero grid must not leak in.
    monkeypatch.setenv(settings.ENV_COUNTRY, "NOR")
    with_country = impute_member("finetune", gpu_name="Tesla T4")
    assert unset is not None and with_country is not None
    assert with_country.carbon_kg == unset.carbon_kg and with_country.water_l == unset.water_l
    # Same energy, a larger accelerator class: more embodied carbon per GPU-hour.
    t4 = embodied.embodied_factor("Tesla T4").value
    h100 = embodied.embodied_factor("NVIDIA H100 80GB HBM3").value
    assert t4 < h100
    from dia.convert.factors import DEFAULT_CI_KG_PER_KWH

    # Central carbon = facility energy x the world intensity + the T4's embodied share (g -> kg).
    embodied_kg = unset.carbon_kg.value - unset.energy_kwh.value * DEFAULT_CI_KG_PER_KWH[0]
    assert embodied_kg == pytest.approx(unset.gpu_hours.value * t4 / 1000, rel=1e-9)


def test_timeline_never_turns_an_undisclosed_figure_into_zero(tmp_path: Path) -> None:
    from factories import run_report

    store = Store(f"sqlite:///{tmp_path}/s.sqlite")
    # The base states carbon only (a Hub card: energy unavailable), the fine-tune measured energy.
    store.save_run(run_report("fam/base", energy_kwh=0.0, quality="unavailable", carbon_kg=0.5,
                              carbon_quality="reported", started_at=datetime(2024, 1, 1, tzinfo=timezone.utc)))
    store.save_run(run_report("fam/chat", energy_kwh=3.2, carbon_kg=0.2, parents=[("fam/base", "finetune")],
                              started_at=datetime(2024, 2, 1, tzinfo=timezone.utc)))
    first, last = timeline("fam/base", store=store)
    assert first.member == "fam/base" and first.carbon_kg == pytest.approx(0.5)
    assert first.energy_kwh is None and first.water_l is None  # not disclosed yet, not 0
    assert last.energy_kwh == pytest.approx(3.2) and last.carbon_kg == pytest.approx(0.7)
    assert last.water_l is None
