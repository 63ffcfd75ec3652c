"""The meter interface and the plain measurements meters return.

A meter measures a window that opens at :meth:`Meter.start`. :meth:`Meter.read` returns
the energy *since the start* per component (cumulative), so phases and checkpoints are
differences of two reads. Meters that integrate power are advanced by :meth:`Meter.sample`,
called from the run's background thread at the sampling interval.

>>> from dia.measure.base import ComponentEnergy
>>> ComponentEnergy("cpu", 3600.0, 3000.0, 4000.0, "estimated").kwh
0.001
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

from dia.errors import DIAWarning  # noqa: F401  (re-exported: DIAWarning used to live here)

Component = Literal["gpu", "cpu", "ram"]
COMPONENTS: tuple[Component, ...] = ("gpu", "cpu", "ram")
J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class ComponentEnergy:
    """Energy of one component since the window opened, in joules, with an interval."""

    component: Component
    energy_j: float
    low_j: float
    high_j: float
    quality: str  # a dia.record.report.Quality value

    @property
    def kwh(self) -> float:
        return self.energy_j / J_PER_KWH

    def __add__(self, other: ComponentEnergy) -> ComponentEnergy:
        from dia.record.report import worst_quality

        return ComponentEnergy(self.component, self.energy_j + other.energy_j, self.low_j + other.low_j,
                               self.high_j + other.high_j, worst_quality(self.quality, other.quality).value)


@dataclass(frozen=True)
class GPUDevice:
    """One physical NVIDIA GPU this process can see.

    ``index`` is its NVML index (PCI bus order, not CUDA's order), ``uuid`` its ``GPU-...``
    UUID, ``name`` its model. ``mig`` holds the ``MIG-...`` UUIDs of the instances of it this
    process sees: the energy counter is the whole GPU's, shared by all its instances.

    >>> GPUDevice(0, "GPU-8d4e", "NVIDIA H100 80GB HBM3").label
    'GPU 0 (NVIDIA H100 80GB HBM3)'
    """

    index: int
    uuid: str
    name: str
    mig: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How notes name the GPU: its NVML index and model (never its UUID)."""
        return f"GPU {self.index} ({self.name})"


@dataclass
class GPUInfo:
    """One GPU a meter watches: its NVML index, name, UUID and how it is measured.

    ``method``: ``counter`` (energy counter), ``polled`` (power integrated), ``lost``
    (stopped answering; counted up to its last reading) or ``unavailable`` (never gave a
    reading: no figure, not 0 J).
    """

    index: int
    name: str
    method: Literal["counter", "polled", "lost", "unavailable"] = "counter"
    uuid: str = ""


@dataclass
class Meter:
    """Base class: subclasses override :meth:`start`, :meth:`read` and maybe :meth:`sample`.

    ``notes`` collects every degradation (unreadable counter, lost device) for the report.
    """

    name: str = "none"
    notes: list[str] = field(default_factory=list)
    gpus: list[GPUInfo] = field(default_factory=list)
    # The shortest window this meter resolves, in seconds (an energy counter's update
    # period); a phase or run shorter than this is flagged in the notes.
    min_window_s: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def start(self) -> None:
        """Open the measurement window."""

    def sample(self) -> None:
        """Advance integration (background thread); counters need nothing here."""

    def read(self) -> list[ComponentEnergy]:
        """Energy per component since :meth:`start` (cheap enough for every log step)."""
        return []

    def stop(self) -> list[ComponentEnergy]:
        """Close the window and return the final reading."""
        self.sample()
        return self.read()

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
