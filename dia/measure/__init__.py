"""Meters: where a run's energy figures come from.

``select_meters("auto")`` picks, per component, the best source this machine offers:
NVML for NVIDIA GPUs (counter, else polled power), RAPL for the CPU packages (and DRAM),
and the documented estimate for whatever is left (CPU and RAM without counters).
Detection is cached per process so a run's start stays cheap.

>>> from dia.measure import select_meters
>>> meters, notes = select_meters("estimate")
>>> [m.name for m in meters]
['estimate']
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from dia.errors import DIAWarning
from dia.measure.base import COMPONENTS, ComponentEnergy, GPUInfo, Meter
from dia.measure.distributed import RankInfo, detect_rank

METER_NAMES: tuple[str, ...] = ("auto", "nvml", "rapl", "estimate", "codecarbon")

__all__ = ["COMPONENTS", "METER_NAMES", "ComponentEnergy", "DIAWarning", "GPUInfo", "Meter", "RankInfo",
           "detect_rank", "select_meters"]


@functools.lru_cache(maxsize=4)
def _rapl_domains(root: str) -> tuple[Any, ...]:
    from dia.measure.cpu.rapl import find_domains

    return tuple(find_domains(root))


def select_meters(meter: str = "auto", *, rank: RankInfo | None = None, tree_pid: int | None = None,
                  nvml: Any = None, powercap_root: str | Path | None = None,
                  country: str | None = None) -> tuple[list[Meter], list[str]]:
    """The meters for this process, and notes on what could not be measured directly.

    ``rank`` decides which GPUs are this process's own and whether it measures the host
    (only local rank 0 does). ``tree_pid`` measures that process tree instead of this
    process's. ``nvml`` (a pynvml-like module, or ``False`` for no GPUs) and
    ``powercap_root`` are injectable for tests.
    """
    rank = rank or RankInfo()
    notes: list[str] = []
    if meter == "codecarbon":
        from dia.measure.codecarbon_meter import CodeCarbonMeter

        return [CodeCarbonMeter(country=country)], notes
    meters: list[Meter] = []
    if meter in ("auto", "nvml", "rapl"):
        meters += _gpu_meters(meter, rank, nvml, notes)
    if not rank.measures_host:
        notes.append(f"local rank {rank.local_rank}: host CPU and RAM are counted by local rank 0")
        return meters, notes
    covered: set[str] = set()
    if meter in ("auto", "nvml", "rapl"):
        from dia.measure.cpu.rapl import POWERCAP_ROOT, RaplMeter

        domains = list(_rapl_domains(str(powercap_root or POWERCAP_ROOT)))
        if domains:
            rapl = RaplMeter(domains)
            meters.append(rapl)
            covered = rapl.components
        elif meter == "rapl":
            notes.append("RAPL counters not readable here (absent, or root-only): CPU energy estimated")
    missing = [c for c in ("cpu", "ram") if c not in covered]
    if missing:
        from dia.measure.estimate import EstimateMeter
        from dia.measure.process import ProcessTree

        usage = ProcessTree(tree_pid).usage
        meters.append(EstimateMeter(cpu="cpu" in missing, ram="ram" in missing, usage=usage))
    return meters, notes


def _gpu_meters(meter: str, rank: RankInfo, nvml: Any, notes: list[str]) -> list[Meter]:
    from dia.measure.distributed import own_gpu_indices
    from dia.measure.gpu.nvidia import NvmlMeter, load_nvml, visible_indices

    if nvml is False:  # tests and callers that rule GPUs out
        return []
    nvml = nvml if nvml is not None else load_nvml()
    if nvml is None:
        if meter == "nvml":
            notes.append("NVML is not available (no NVIDIA driver or GPU): no GPU energy measured")
        return []
    indices = own_gpu_indices(visible_indices(nvml), rank)
    return [NvmlMeter(nvml=nvml, indices=indices)] if indices else []
