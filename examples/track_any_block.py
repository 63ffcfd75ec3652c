"""Track any block of Python code with one line, then look at the stored report.

    python examples/track_any_block.py            # prints a JSON summary

The "training" is a CPU loop; swap in your own code. The run is saved to the default
store (``DIA_DATABASE_URL``, else the embedded SQLite file): see it with ``dia runs``.
"""

from __future__ import annotations

import json
import time

import dia


def train_one_epoch(steps: int) -> float:
    loss = 1.0
    for _ in range(steps):
        loss = loss * 0.999 + sum(i * i for i in range(2000)) * 1e-12
    return loss


@dia.track("me/decorated-eval", kind="evaluation", country="DEU")
def evaluate() -> float:
    time.sleep(0.1)
    return 0.93


def main() -> None:
    with dia.track("me/tiny-cpu-model", parents=["org/base-model:lora"], kind="finetuning",
                   country="FRA", sample_interval_s=0.2) as run:
        for epoch in range(2):
            with run.phase(f"epoch{epoch}"):
                train_one_epoch(200)
                run.count(steps=200, samples=200 * 32)
        with run.phase("eval"):
            evaluate()
    report = run.report
    assert report is not None
    print(json.dumps({
        "run_id": report.id,
        "status": report.status.value,
        "energy_kwh": report.energy.it_kwh.as_dict(),
        "carbon_kg": report.carbon.total_kg.as_dict() if report.carbon else None,
        "water_l": report.water.total_l.as_dict() if report.water else None,
        "phases": [p.name for p in report.phases],
        "steps": report.workload.steps,
        "meter": report.meter,
    }, indent=2))


if __name__ == "__main__":
    main()
