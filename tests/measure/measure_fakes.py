"""Fakes of the hardware interfaces: an NVML module and a powercap directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


class NVMLError(Exception):
    """Stands for pynvml.NVMLError (NOT_SUPPORTED, GPU_IS_LOST...)."""


class FakeGPU:
    def __init__(self, name: str = "NVIDIA A100-SXM4-40GB", *, counter: bool = True,
                 power_w: Callable[[float], float] = lambda t: 300.0, uuid: str = "GPU-0000") -> None:
        self.name, self.counter, self.power_w, self.uuid = name, counter, power_w, uuid
        self.energy_mj = 1_000_000.0  # counters start wherever the driver left them
        self.lost = False


class FakeNVML:
    """The subset of pynvml DIA calls; ``clock`` drives the power traces."""

    def __init__(self, gpus: list[FakeGPU], clock: Callable[[], float] = lambda: 0.0) -> None:
        self.gpus, self.clock = gpus, clock

    def _gpu(self, handle: int) -> FakeGPU:
        gpu = self.gpus[handle]
        if gpu.lost:
            raise NVMLError("GPU is lost")
        return gpu

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return self.gpus[handle].name.encode()

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return self.gpus[handle].uuid

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> float:
        gpu = self._gpu(handle)
        if not gpu.counter:
            raise NVMLError("Not Supported")
        return gpu.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle: int) -> float:
        return self._gpu(handle).power_w(self.clock()) * 1000.0


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
