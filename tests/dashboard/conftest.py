"""A store with two families, odd model ids and every kind of figure, for the dashboard tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from factories import quantity, run_report

from dia.record.report import (
    GPU,
    Energy,
    Factor,
    Hardware,
    Location,
    PowerSample,
    RunReport,
    Workload,
)
from dia.record.store import Store

T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)
XSS = "<script>alert(1)</script>"


def _run(model_id: str, energy_kwh: float, *, parents: list[tuple[str, str]] = (), kind: str = "finetuning",
         day: float = 0.0, quality: str = "measured", country: str = "USA", **extra: object) -> RunReport:
    q, e = quality, energy_kwh
    return run_report(
        model_id, quality=q, carbon_kg=(0.4 * e, 0.3 * e, 0.6 * e), water_l=(2 * e, e, 4 * e),
        parents=parents, kind=kind, started_at=T0 + timedelta(days=day, hours=-2), hours=2, duration_s=7200,
        energy=Energy(gpu_kwh=quantity(0.8 * e, "kWh", q), cpu_kwh=quantity(0.15 * e, "kWh", q),
                      ram_kwh=quantity(0.05 * e, "kWh", q), it_kwh=quantity((e, 0.95 * e, 1.05 * e), "kWh", q)),
        factors=[Factor(name="carbon_intensity", value=0.4, low=0.3, high=0.6, unit="kgCO2e/kWh",
                        source="Ember 2024 yearly electricity data", granularity="country", key=country,
                        licence="CC-BY-4.0")],
        hardware=Hardware(gpus=[GPU(name="NVIDIA A100-SXM4-40GB", count=2)]), location=Location(country=country),
        host="secret-host.internal", pid=4242, meter="nvml",
        power_samples=[PowerSample(t_s=float(t), power_w=300.0 + t) for t in range(0, 60, 10)], **extra,
    )


def fill(store: Store) -> None:
    """org/base <- org/base-lora, org/base-chat <- org/merged (also <- org/base-lora), silent
    and XSS members without reports; other/root <- other/child in France."""
    store.save_runs([
        _run("org/base", 100.0, kind="pretraining", day=0),
        _run("org/base", 20.0, kind="pretraining", day=1, quality="sampled"),
        _run("org/base-lora", 2.0, parents=[("org/base", "adapter")], day=5, quality="sampled"),
        _run("org/base-chat", 10.0, parents=[("org/base", "finetune")], day=8, quality="estimated"),
        _run("org/merged", 0.5, parents=[("org/base-chat", "merge"), ("org/base-lora", "merge")], day=12,
             quality="reported"),
        _run("org/base-chat", 0.2, kind="inference", day=20, workload=Workload(inferences=4000)),
        _run("other/root", 50.0, kind="pretraining", day=3, country="FRA"),
        _run("other/child", 5.0, parents=[("other/root", "finetune")], day=9, country="FRA"),
    ])
    store.add_edge("org/silent", "org/base", "quantization")
    store.add_edge(XSS, "org/base", "finetune")


@pytest.fixture
def filled_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/dash.sqlite"
    with Store(url) as store:
        fill(store)
    return url
