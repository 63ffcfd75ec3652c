"""Build a small model family in a temporary store and print its cumulative footprint.

    python examples/family_rollup.py

A base model, two fine-tunes, a LoRA adapter, a quantized copy nobody reported, and a
merge of the two fine-tunes (the diamond: the base is counted once). Runs offline in a
second; nothing is written outside a temporary folder.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dia
from dia.record.report import Carbon, Energy, Parent, Quantity, RunReport, Water


def _report(model_id: str, energy_kwh: float, day: int, parents: list[tuple[str, str]] = (),  # type: ignore[assignment]
            kind: str = "finetuning") -> RunReport:
    """A reported run: energy with a +-10 % range, carbon at 0.4 kg/kWh, water at 2 L/kWh."""
    ended = datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(days=day)
    carbon = Quantity.of(0.4 * energy_kwh, "kgCO2e", "reported", low=0.3 * energy_kwh, high=0.5 * energy_kwh)
    half = Quantity.of(1.0 * energy_kwh, "L", "reported", low=0.75 * energy_kwh, high=1.5 * energy_kwh)
    return RunReport(
        model_id=model_id, kind=kind, started_at=ended - timedelta(hours=2), ended_at=ended,
        parents=[Parent(model_id=p, relation=r) for p, r in parents],
        energy=Energy(it_kwh=Quantity.of(energy_kwh, "kWh", "reported", low=0.9 * energy_kwh, high=1.1 * energy_kwh)),
        carbon=Carbon(operational_kg=carbon, total_kg=carbon), water=Water(onsite_l=half, offsite_l=half, total_l=half + half),
    )


def build_family(store: dia.Store) -> None:
    store.save_runs([
        _report("demo/base", 1000.0, 0, kind="pretraining"),
        _report("demo/chat", 40.0, 10, [("demo/base", "instruction-tuning")]),
        _report("demo/code", 60.0, 20, [("demo/base", "finetune")]),
        _report("demo/chat-lora", 1.5, 30, [("demo/chat", "lora")]),
        _report("demo/chat-code-merge", 0.1, 40, [("demo/chat", "merge"), ("demo/code", "merge")]),
        _report("demo/chat", 5.0, 50, kind="inference"),  # use: totalled apart
    ])
    store.add_edge("demo/chat-gguf", "demo/chat", "quantization", method="gguf")  # known from a card only


def _span(figure: dia.Interval | None, unit: str) -> str:
    if figure is None:
        return "not disclosed"
    return f"{figure.value:.1f} {unit} [{figure.low:.1f}-{figure.high:.1f}]"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = dia.Store(f"sqlite:///{Path(tmp) / 'dia.db'}")
        build_family(store)
        family = dia.rollup("demo/base", scope="family", impute=True, store=store)
        print(f"{family.model}: {family.members} members, {family.with_report} with a report "
              f"(coverage {family.coverage:.0%})")
        # A figure no member disclosed is None ("not disclosed"), never 0.
        print(f"  energy {_span(family.energy_kwh, 'kWh')}")
        print(f"  carbon {_span(family.carbon_kg, 'kgCO2e')}")
        print(f"  water  {_span(family.water_l, 'L')}")
        print(f"  use (not included): {_span(family.use['energy_kwh'], 'kWh')}")
        assert family.imputed_totals is not None
        print(f"  imputed for members without a report (not included): "
              f"{family.imputed_totals['carbon_kg'].value:.2f} kgCO2e")
        for row in family.rows:
            own = (f"{row.carbon_kg.value:.2f} kgCO2e" if row.carbon_kg
                   else "carbon not disclosed" if row.has_report else "no report")
            print(f"    {'  ' * row.depth}{row.model_id} ({row.relation}): {own}, {row.quality}")
        upstream = dia.rollup("demo/chat-code-merge", scope="upstream", store=store)
        print(f"demo/chat-code-merge upstream: {upstream.members} members (base counted once), "
              f"{_span(upstream.carbon_kg, 'kgCO2e')}")
        store.close()


if __name__ == "__main__":
    main()
