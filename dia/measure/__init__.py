"""Meters: where a run's energy figures come from.

``select_meters("auto")`` picks, per component, the best source this machine offers:
NVML for NVIDIA GPUs (counter, else polled power), RAPL for the CPU packages (and DRAM),
and the documented estimate for whatever is left (CPU and RAM without counters).
Detection is cached per process so a run's start stays cheap.

In a distributed job each rank counts the GPUs it owns (:func:`dia.measure.distributed.own_gpus`)
and its own processes' CPU load and memory; local rank 0 also counts the node's idle CPU
power and machine-wide RAM bound, or reads RAPL, so adding the ranks counts each once.

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
from dia.measure.base import COMPONENTS, ComponentEnergy, GPUDevice, GPUInfo, Meter
from dia.measure.distributed import RankInfo, detect_rank
from dia.redact import describe_error

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

    ``rank`` decides which GPUs are this process's own and how it shares the host: every
    rank counts its own process tree's CPU load and memory, and local rank 0 also the
    node's idle CPU power and machine-wide RAM bound (or, where RAPL is readable, the
    whole-package counters, which no other rank reads). ``tree_pid`` measures that process
    tree instead of this process's. ``nvml`` (a pynvml-like module, or ``False`` for no
    GPUs) and ``powercap_root`` are injectable for tests.

    A failure while setting up the GPUs becomes a note: the CPU and RAM are still measured.
    """
    rank = rank or RankInfo()
    notes: list[str] = []
    if meter == "codecarbon":
        from dia.measure.codecarbon_meter import CodeCarbonMeter

        _, gpus = _own_gpus(meter, rank, nvml, notes)
        if gpus is None and rank.world_size > 1:
            gpus = []  # nothing decided: never let every rank count every GPU
        return [CodeCarbonMeter(country=country, gpus=gpus, host=rank.measures_host)], notes
    meters: list[Meter] = []
    if meter in ("auto", "nvml", "rapl"):
        meters += _gpu_meters(meter, rank, nvml, notes)
    covered: set[str] = set()
    if meter in ("auto", "nvml", "rapl"):
        from dia.measure.cpu.rapl import POWERCAP_ROOT, RaplMeter

        domains = list(_rapl_domains(str(powercap_root or POWERCAP_ROOT)))
        if domains:
            rapl = RaplMeter(domains)
            covered = rapl.components
            if rank.measures_host:
                meters.append(rapl)
            else:  # package counters are the whole package's, every rank's load included
                notes.append(f"{rank.who}: CPU{' and RAM' if 'ram' in covered else ''} "
                             "energy read from RAPL by the node's host measurer, local rank 0 (whole-package counters)")
        elif meter == "rapl":
            notes.append("RAPL counters not readable here (absent, or root-only): CPU energy estimated")
    missing = [c for c in ("cpu", "ram") if c not in covered]
    if missing:
        from dia.measure.estimate import EstimateMeter
        from dia.measure.process import OtherRanks, ProcessTree

        # Lightning's DDP launcher starts the other ranks as children of rank 0: leave them
        # to their own meters, so no CPU second is counted twice.
        skip = OtherRanks.of(rank.rank, rank.local_rank) if rank.world_size > 1 else None
        usage = ProcessTree(tree_pid, skip=skip).usage
        meters.append(EstimateMeter(cpu="cpu" in missing, ram="ram" in missing, usage=usage,
                                    host_share=rank.measures_host))
        if not rank.measures_host:
            notes.append(f"{rank.who}: counts its own processes' CPU load and memory; the node's idle CPU "
                         "power and machine-wide RAM bound are counted by its host measurer (local rank 0)")
    # How the rank was placed (e.g. an unknown local rank) is said even when no GPU was set up.
    return meters, [*(n for n in rank.notes if n not in notes), *notes]


def _own_gpus(meter: str, rank: RankInfo, nvml: Any, notes: list[str]) -> tuple[Any, list[GPUDevice] | None]:
    """NVML and the GPUs this rank counts (``None`` when NVML is not usable); failures become notes."""
    from dia.measure import distributed
    from dia.measure.gpu import cuda, nvidia

    if nvml is False:  # tests and callers that rule GPUs out
        return None, None
    try:
        nvml = nvml if nvml is not None else nvidia.load_nvml()
        if nvml is None:
            if meter in ("auto", "nvml") and nvidia.device_files_present():
                problem = nvidia.nvml_problem() or "reason unknown"
                notes.append(f"NVIDIA device files present but NVML unusable ({problem}): no GPU energy measured")
            elif meter == "nvml":
                notes.append("NVML is not available (no NVIDIA driver or GPU): no GPU energy measured")
            return None, None
        devices, device_notes = nvidia.visible_devices(nvml)
        notes += device_notes
        ownership = distributed.own_gpus(devices, rank, current_uuid=cuda.current_device_uuid(),
                                         node_gpu_count=int(nvml.nvmlDeviceGetCount()))
        notes += ownership.notes
        return nvml, list(ownership.counted)
    except Exception as exc:  # one NVML error must not cost the run its CPU and RAM figures
        notes.append(f"GPU set-up failed ({describe_error(exc, limit=200)}): no GPU energy measured by this process")
        return None, None


def _gpu_meters(meter: str, rank: RankInfo, nvml: Any, notes: list[str]) -> list[Meter]:
    from dia.measure.gpu import nvidia

    module, gpus = _own_gpus(meter, rank, nvml, notes)
    if not gpus:
        return []
    try:
        return [nvidia.NvmlMeter(nvml=module, devices=gpus)]
    except Exception as exc:  # a GPU that answered the listing but not the meter's set-up
        notes.append(f"GPU set-up failed ({describe_error(exc, limit=200)}): no GPU energy measured by this process")
        return []
