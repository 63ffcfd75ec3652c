"""Fakes of the hardware interfaces: an NVML module and a powercap directory.

The fake NVML raises pynvml's real error classes (``pynvml.NVMLError(code)``), so DIA's
error handling sees what a driver would give it. It models:

* energy counters that advance with a clock at a set power (``FakeNVML(..., advancing=True)``),
  updated only every ``update_period_s`` like a real counter; with ``clock=time.time`` and a
  shared ``epoch``, several processes read one consistent counter (:func:`fake_from_spec`);
* transient errors (``gpu.errors``: codes raised by the next reads, one per read), a lost GPU
  (``gpu.lost``), a GPU broken at set-up (``gpu.broken``);
* MIG instances (``gpu.mig``: their UUIDs; their handles have no energy or power reading);
* other processes on the GPU (``gpu.processes``: pids).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pynvml

NVMLError = pynvml.NVMLError  # NVMLError(code) gives the code's own subclass, with .value
NOT_SUPPORTED = pynvml.NVML_ERROR_NOT_SUPPORTED
TIMEOUT = pynvml.NVML_ERROR_TIMEOUT
GPU_IS_LOST = pynvml.NVML_ERROR_GPU_IS_LOST
UNKNOWN = pynvml.NVML_ERROR_UNKNOWN


class Clock:
    """A clock the test moves by hand (``clock.t = 10.0``)."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class FakeGPU:
    def __init__(self, name: str = "NVIDIA A100-SXM4-40GB", *, counter: bool = True,
                 power_w: float | Callable[[float], float] = 300.0, uuid: str = "GPU-0000",
                 mig: tuple[str, ...] = (), processes: tuple[int, ...] = (),
                 power_readable: bool = True) -> None:
        self.name, self.counter, self.uuid = name, counter, uuid
        self.power_w: Callable[[float], float] = power_w if callable(power_w) else (lambda t, w=float(power_w): w)
        self.mig = tuple(mig)
        self.processes = list(processes)
        self.power_readable = power_readable
        self.energy_mj = 1_000_000.0  # counters start wherever the driver left them
        self.lost = False
        self.broken: int | None = None  # an NVML error code raised by every call, set-up included
        self.errors: list[int] = []  # codes raised by the next energy/power reads, one per read


@dataclass(frozen=True)
class MigHandle:
    parent: int
    instance: int


@dataclass(frozen=True)
class FakeProcess:
    pid: int
    usedGpuMemory: int = 1 << 30


class FakeNVML:
    """The subset of pynvml DIA calls; ``clock`` drives the power traces and counters.

    With ``advancing=True`` a counter reads ``energy_mj`` plus the power integrated from
    ``epoch`` to ``clock()``, held between updates every ``update_period_s`` seconds.
    """

    def __init__(self, gpus: list[FakeGPU], clock: Callable[[], float] = lambda: 0.0, *,
                 advancing: bool = False, epoch: float = 0.0, update_period_s: float = 0.0) -> None:
        self.gpus, self.clock = gpus, clock
        self.advancing, self.epoch, self.update_period_s = advancing, epoch, update_period_s
        self.calls: list[str] = []
        self.NVMLError = NVMLError  # as pynvml exposes it
        for name in dir(pynvml):
            if name.startswith("NVML_ERROR_"):
                setattr(self, name, getattr(pynvml, name))

    # -- library ----------------------------------------------------------------------------
    def nvmlInit(self) -> None:
        self.calls.append("nvmlInit")

    def nvmlShutdown(self) -> None:
        self.calls.append("nvmlShutdown")

    # -- devices ----------------------------------------------------------------------------
    def _gpu(self, handle: Any, *, reading: bool = False) -> FakeGPU:
        if isinstance(handle, MigHandle):
            raise NVMLError(NOT_SUPPORTED)  # MIG handles have no energy or power reading
        gpu = self.gpus[handle]
        if gpu.broken is not None:
            raise NVMLError(gpu.broken)
        if gpu.lost:
            raise NVMLError(GPU_IS_LOST)
        if reading and gpu.errors:
            raise NVMLError(gpu.errors.pop(0))
        return gpu

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        if not 0 <= i < len(self.gpus):
            raise NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        if self.gpus[i].broken is not None:
            raise NVMLError(self.gpus[i].broken)
        return i

    def nvmlDeviceGetHandleByUUID(self, uuid: str | bytes) -> Any:
        text = uuid.decode() if isinstance(uuid, bytes) else uuid
        for i, gpu in enumerate(self.gpus):
            if gpu.uuid == text:
                return self.nvmlDeviceGetHandleByIndex(i)
            if text in gpu.mig:
                return MigHandle(i, gpu.mig.index(text))
        raise NVMLError(pynvml.NVML_ERROR_NOT_FOUND)

    def nvmlDeviceIsMigDeviceHandle(self, handle: Any) -> int:
        return int(isinstance(handle, MigHandle))

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, handle: Any) -> int:
        if not isinstance(handle, MigHandle):
            raise NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return handle.parent

    def nvmlDeviceGetIndex(self, handle: Any) -> int:
        if isinstance(handle, MigHandle):
            return handle.instance
        self._gpu(handle)
        return int(handle)

    def nvmlDeviceGetName(self, handle: Any) -> bytes:
        return self._gpu(handle).name.encode()

    def nvmlDeviceGetUUID(self, handle: Any) -> str:
        if isinstance(handle, MigHandle):
            return self.gpus[handle.parent].mig[handle.instance]
        return self._gpu(handle).uuid

    # -- readings ---------------------------------------------------------------------------
    def _now(self) -> float:
        t = self.clock() - self.epoch
        if self.update_period_s > 0:
            t = (t // self.update_period_s) * self.update_period_s
        return t

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: Any) -> float:
        gpu = self._gpu(handle, reading=True)
        if not gpu.counter:
            raise NVMLError(NOT_SUPPORTED)
        if not self.advancing:
            return gpu.energy_mj
        t = self._now()
        return gpu.energy_mj + 1000.0 * gpu.power_w(t) * max(0.0, t)  # constant power since the epoch

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> float:
        gpu = self._gpu(handle, reading=True)
        if not gpu.power_readable:
            raise NVMLError(NOT_SUPPORTED)
        return gpu.power_w(self.clock() - self.epoch) * 1000.0

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[FakeProcess]:
        return [FakeProcess(pid) for pid in self._gpu(handle).processes]


# -- several processes sharing one fake ---------------------------------------------------------

def fake_spec(gpus: list[dict[str, Any]], *, epoch: float | None = None, update_period_s: float = 0.0) -> str:
    """JSON describing a fake whose counters advance with wall-clock time from ``epoch``.

    Each GPU: ``{"uuid": ..., "power_w": ..., "name"?, "counter"?, "mig"?, "processes"?,
    "power_readable"?}``. Processes that
    build their fake from the same spec read the same counters at the same moment.
    """
    return json.dumps({"epoch": time.time() if epoch is None else epoch, "update_period_s": update_period_s,
                       "gpus": gpus})


def fake_from_spec(spec: str) -> FakeNVML:
    data = json.loads(spec)
    gpus = [FakeGPU(g.get("name", "NVIDIA A100-SXM4-40GB"), counter=g.get("counter", True),
                    power_w=float(g.get("power_w", 300.0)), uuid=g["uuid"], mig=tuple(g.get("mig", ())),
                    processes=tuple(g.get("processes", ())), power_readable=g.get("power_readable", True))
            for g in data["gpus"]]
    return FakeNVML(gpus, time.time, advancing=True, epoch=float(data["epoch"]),
                    update_period_s=float(data.get("update_period_s", 0.0)))


def install_fake_nvml(fake: Any) -> None:
    """Make DIA's NVML loader return ``fake`` in this process (a child script calls this first)."""
    import dia.measure.gpu.nvidia as nvidia

    def load_nvml() -> Any:
        return fake

    load_nvml.cache_clear = lambda: None  # type: ignore[attr-defined]
    nvidia.load_nvml = load_nvml  # type: ignore[assignment]


FAKES_DIR = Path(__file__).resolve().parent  # children put this on sys.path to import the fakes


def powercap(root: Path, domains: dict[str, tuple[str, int, int]]) -> Path:
    """A fake ``/sys/class/powercap``: ``{dir: (name, energy_uj, max_energy_range_uj)}``."""
    root.mkdir(parents=True, exist_ok=True)
    for directory, (name, energy, max_uj) in domains.items():
        d = root / directory
        d.mkdir()
        (d / "name").write_text(name + "\n")
        (d / "energy_uj").write_text(f"{energy}\n")
        (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return root


def set_energy(root: Path, directory: str, energy_uj: int) -> None:
    (root / directory / "energy_uj").write_text(f"{energy_uj}\n")
