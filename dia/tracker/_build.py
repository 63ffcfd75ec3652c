"""From meter readings to a report: energy per component, carbon and water, fallbacks.

:func:`build_report` turns a :class:`RunSnapshot` (what a run holds at one moment) and
the meters' readings into a :class:`RunReport`; it is the run's only report builder.

>>> from dia.measure.base import ComponentEnergy
>>> e = energy_from([ComponentEnergy("cpu", 3600.0, 1800.0, 7200.0, "estimated")])
>>> (e.it_kwh.value, e.it_kwh.quality.value)
(0.001, 'estimated')
"""

from __future__ import annotations

import functools
import os
import socket
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dia.errors import DIAWarning
from dia.measure.base import COMPONENTS, ComponentEnergy, Meter
from dia.record.report import (
    GPU,
    Energy,
    Hardware,
    Location,
    Parent,
    Phase,
    PowerSample,
    Quantity,
    RunKind,
    RunReport,
    RunStatus,
    Tool,
    Workload,
)

if TYPE_CHECKING:  # pragma: no cover
    from dia.measure.distributed import RankInfo

_KWH = "kWh"


def quantity_kwh(energy_j: float, low_j: float, high_j: float, quality: str) -> Quantity:
    """A kWh quantity from joules; the interval is widened to hold the value (rounding)."""
    value = max(0.0, energy_j) / 3.6e6
    low = min(value, max(0.0, low_j) / 3.6e6)
    high = max(value, high_j / 3.6e6)
    return Quantity.of(value, _KWH, quality, low=low, high=high)


def combine(readings: list[ComponentEnergy]) -> dict[str, ComponentEnergy]:
    """Per component, the sum over meters (two GPU meters add up)."""
    out: dict[str, ComponentEnergy] = {}
    for r in readings:
        out[r.component] = out[r.component] + r if r.component in out else r
    return out


def energy_from(readings: list[ComponentEnergy], *, offset: Energy | None = None,
                nothing_quality: str = "unavailable") -> Energy:
    """The report's :class:`Energy`: components and their sum, plus a resumed run's energy.

    With no reading at all, IT energy is zero with ``nothing_quality`` (``measured`` for a
    rank whose devices are counted by another rank, ``unavailable`` when meters failed).
    """
    per = combine(readings)
    fields: dict[str, Quantity | None] = {}
    for c in COMPONENTS:
        q = quantity_kwh(per[c].energy_j, per[c].low_j, per[c].high_j, per[c].quality) if c in per else None
        before = getattr(offset, f"{c}_kwh") if offset is not None else None
        if q is not None and before is not None:
            q = q + before
        fields[f"{c}_kwh"] = q if q is not None else before
    parts = [q for q in fields.values() if q is not None]
    it: Quantity | None = None
    for q in parts:
        it = q if it is None else it + q
    if it is None:
        it = offset.it_kwh if offset is not None else Quantity.zero(_KWH, nothing_quality)
    return Energy(it_kwh=it, **fields)


def total_j(readings: list[ComponentEnergy]) -> float:
    return sum(r.energy_j for r in readings)


def convert(report: RunReport, options: dict[str, Any]) -> RunReport:
    """Carbon and water through :func:`dia.convert.footprint`; energy-only if unavailable."""
    try:
        from dia.convert import footprint
    except ImportError:
        return _noted(report, "dia.convert is not available: carbon and water not computed")
    gpu_name = report.hardware.gpus[0].name if report.hardware.gpus else None
    # Measuring never fails on a place: unknown or contradicting names become a note (world
    # default, or the cloud region's grid), as in convert_report.
    fp = footprint(report.energy.it_kwh, gpu_hours=report.gpu_hours or 0.0, gpu_name=gpu_name, on_unknown="world",
                   **{k: v for k, v in options.items() if v is not None})
    return fp.apply(report)


def _noted(report: RunReport, note: str) -> RunReport:
    if note not in report.notes:
        report = report.model_copy(update={"notes": [*report.notes, note]})
    return report


def write_fallback(report: RunReport, reason: str, *, warned: bool) -> Path | None:
    """Write the report to ``dia-fallback-<id>.json`` in the working directory; warn once."""
    path = Path.cwd() / f"dia-fallback-{report.id}.json"
    try:
        path.write_text(report.to_json(indent=2), encoding="utf-8")
    except OSError as exc:
        if not warned:
            warnings.warn(f"DIA: {reason}; the fallback file {path} cannot be written either "
                          f"({exc.strerror}): run {report.id} is not saved", DIAWarning, stacklevel=3)
        return None
    if not warned:
        warnings.warn(f"DIA: {reason}; run {report.id} written to {path} (load it with `dia import`)",
                      DIAWarning, stacklevel=3)
    return path


@dataclass
class RunSnapshot:
    """What a run holds at one moment, everything :func:`build_report` needs."""

    id: str
    model_id: str | None = None
    parents: list[Parent] = field(default_factory=list)
    kind: RunKind = RunKind.OTHER
    started_at: datetime | None = None
    elapsed_s: float = 0.0
    run_group: str | None = None
    rank: RankInfo | None = None
    location: dict[str, Any] = field(default_factory=dict)
    meters: list[Meter] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    phases: list[Phase] = field(default_factory=list)
    power: list[PowerSample] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    previous: RunReport | None = None
    degraded: bool = False
    host_skipped: bool = False
    checkpoint_s: float | None = None


def build_report(snap: RunSnapshot, status: RunStatus, readings: list[ComponentEnergy], *, ended: bool,
                 degrade: Callable[[str, BaseException], str]) -> RunReport:
    """The report of ``snap`` with ``readings``; a failed conversion is degraded, not raised.

    ``degrade(where, exc)`` records a failure on the run and returns its note.
    """
    now = _now()
    previous = snap.previous
    before_s = (previous.duration_s or 0.0) if previous is not None else 0.0
    # A rank whose devices are all counted elsewhere honestly measured 0 J of its own; one
    # whose GPU never answered did not measure at all.
    silent_gpu = any(g.method == "unavailable" for m in snap.meters for g in m.gpus)
    nothing = "measured" if (snap.host_skipped and not snap.degraded and not silent_gpu) else "unavailable"
    energy = energy_from(readings, offset=previous.energy if previous is not None else None,
                         nothing_quality=nothing)
    hardware = hardware_of(snap.meters, previous)
    new_gpu_h = hardware.gpu_count * max(0.0, snap.elapsed_s - before_s) / 3600.0
    gpu_hours = new_gpu_h + ((previous.gpu_hours or 0.0) if previous is not None else 0.0)
    notes = list(snap.notes)
    for m in snap.meters:
        notes += [n for n in m.notes if n not in notes]
    if snap.host_skipped and not readings and not silent_gpu:
        notes.append("this rank measures no device of its own: its energy is counted by other ranks")
    rank, loc = snap.rank, snap.location
    meter = "+".join(m.name for m in snap.meters) or ("none" if not snap.degraded else "degraded")
    report = RunReport(
        id=snap.id, model_id=snap.model_id, parents=snap.parents, kind=snap.kind, status=status,
        started_at=snap.started_at, ended_at=now if ended else None, duration_s=snap.elapsed_s,
        heartbeat_at=now, checkpoint_s=snap.checkpoint_s, process_started_at=process_started_at(),
        run_group=snap.run_group,
        rank=rank.rank if rank is not None else 0, world_size=rank.world_size if rank is not None else 1,
        hardware=hardware,
        location=Location(country=loc.get("country"), region=loc.get("region"),
                          cloud_provider=loc.get("cloud_provider"), cloud_region=loc.get("cloud_region")),
        tool=Tool(version=_version()), meter=meter, gpu_hours=gpu_hours if hardware.gpus else None,
        host=socket.gethostname(), pid=os.getpid(), source="tracker", energy=energy,
        workload=Workload(**{k: (v or None) for k, v in snap.counts.items()}), phases=snap.phases,
        power_samples=snap.power, notes=notes,
        extra=dict(previous.extra) if previous is not None else {},
    )
    degraded = snap.degraded
    try:
        report = convert(report, dict(loc))
    except Exception as exc:
        text = degrade("conversion to carbon and water", exc)
        degraded = True
        report = report.model_copy(update={"notes": [*snap.notes, *([text] if text not in snap.notes else [])]})
    if degraded:
        report.extra["degraded"] = True
    return report


def minimal_report(snap: RunSnapshot, status: RunStatus) -> RunReport:
    """What is left when building the report itself failed: labelled, energy unavailable."""
    return RunReport(id=snap.id, model_id=snap.model_id, parents=snap.parents, kind=snap.kind,
                     status=status, started_at=snap.started_at, ended_at=_now(),
                     duration_s=snap.elapsed_s, host=socket.gethostname(), pid=os.getpid(),
                     checkpoint_s=snap.checkpoint_s, process_started_at=process_started_at(),
                     run_group=snap.run_group, rank=snap.rank.rank if snap.rank is not None else 0,
                     world_size=snap.rank.world_size if snap.rank is not None else 1,
                     meter="degraded", energy=Energy(it_kwh=Quantity.zero(_KWH, "unavailable")),
                     notes=list(snap.notes), extra={"degraded": True})


def process_started_at() -> datetime | None:
    """When this process started (psutil), so a reader can tell a reused pid from the writer."""
    return _started_at_of(os.getpid())


@functools.lru_cache(maxsize=4)  # keyed by pid: a forked child asks for its own
def _started_at_of(pid: int) -> datetime | None:
    try:
        import psutil

        return datetime.fromtimestamp(psutil.Process(pid).create_time(), tz=timezone.utc)
    except Exception:  # no psutil answer: readers fall back to the heartbeat
        return None


def hardware_of(meters: list[Meter], previous: RunReport | None = None) -> Hardware:
    """GPUs seen by the meters plus this host's CPU and RAM (a resumed run keeps its GPUs)."""
    from dia.measure.hardware import host_info

    host = host_info()
    names: dict[str, int] = {}
    for m in meters:
        for g in m.gpus:
            names[g.name] = names.get(g.name, 0) + 1
    if previous is not None and not names:
        return previous.hardware
    return Hardware(gpus=[GPU(name=n, count=c) for n, c in names.items()], cpu_model=host.cpu_model,
                    cpu_cores=host.cpu_count, ram_gb=round(host.ram_gb, 2) if host.ram_gb else None)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@functools.lru_cache(maxsize=1)
def _version() -> str:
    from dia._version import __version__

    return __version__
