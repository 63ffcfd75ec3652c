"""Long model ids (one of 58 characters) and runs for the terminal-output tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from dia.record.report import Carbon, Energy, Parent, Quantity, RunReport, Water

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
BASE = "bioscan-ml/clibd-bioscan-5m"
LORA = "bioscan-ml/clibd-bioscan-5m-lora-r4"
LONG = "a-very-long-organisation-name/an-equally-long-model-name-v1"  # 58 characters
assert len(LONG) >= 55
IDS = (BASE, LORA, LONG)


def run(model_id: str, energy_kwh: float, parents: list[tuple[str, str]], day: float) -> RunReport:
    carbon = Quantity.of(0.5 * energy_kwh, "kgCO2e", "reported", low=0.25 * energy_kwh, high=1.0 * energy_kwh)
    half = Quantity.of(energy_kwh, "L", "reported", low=0.5 * energy_kwh, high=2.0 * energy_kwh)
    ended = T0 + timedelta(days=day)
    return RunReport(
        model_id=model_id, kind="finetuning", started_at=ended - timedelta(hours=1), ended_at=ended,
        duration_s=3600.0, parents=[Parent(model_id=p, relation=r) for p, r in parents],
        energy=Energy(it_kwh=Quantity.of(energy_kwh, "kWh", "reported", low=0.9 * energy_kwh, high=1.1 * energy_kwh)),
        carbon=Carbon(operational_kg=carbon, total_kg=carbon),
        water=Water(onsite_l=half, offsite_l=half, total_l=half + half),
    )
