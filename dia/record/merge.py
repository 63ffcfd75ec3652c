"""Merging the reports of one distributed job into its logical run.

Each rank measures only its own GPUs and its own processes' CPU load and memory (local
rank 0 also counts the host's idle share), so adding the ranks' figures counts every
device once.
"""

from __future__ import annotations

from collections import Counter
from typing import TypeVar

from dia.record.report import GPU, Carbon, Energy, Quantity, RunReport, Water, compute_intensities

_M = TypeVar("_M", Energy, Carbon, Water)


def _add_models(a: _M | None, b: _M | None) -> _M | None:
    if a is None or b is None:
        return a or b
    values = {}
    for name in type(a).model_fields:
        qa: Quantity | None = getattr(a, name)
        qb: Quantity | None = getattr(b, name)
        values[name] = qa + qb if qa is not None and qb is not None else (qa or qb)
    return type(a).model_validate(values)


def merge_reports(primary: RunReport, others: list[RunReport]) -> RunReport:
    """``primary`` (rank 0) with the other ranks' energy, carbon, water and GPUs added."""
    energy, carbon, water = primary.energy, primary.carbon, primary.water
    gpus: Counter[str] = Counter({g.name: g.count for g in primary.hardware.gpus})
    gpu_hours = primary.gpu_hours
    for other in others:
        energy = _add_models(energy, other.energy) or energy
        carbon = _add_models(carbon, other.carbon)
        water = _add_models(water, other.water)
        for g in other.hardware.gpus:
            gpus[g.name] += g.count
        if other.gpu_hours is not None:
            gpu_hours = (gpu_hours or 0.0) + other.gpu_hours
    hardware = primary.hardware.model_copy(update={"gpus": [GPU(name=n, count=c) for n, c in gpus.items()]})
    merged = primary.model_copy(update={
        "energy": energy, "carbon": carbon, "water": water, "hardware": hardware,
        "gpu_hours": gpu_hours,
        "intensities": compute_intensities(energy.it_kwh, primary.workload),
    })
    merged.notes = [*primary.notes, f"logical run of {len(others) + 1} ranks in group {primary.run_group}"]
    return merged
