"""NVIDIA GPU energy through NVML (nvidia-ml-py).

Each GPU is read at the window edges through its cumulative energy counter
(``nvmlDeviceGetTotalEnergyConsumption``, millijoules, Volta and newer; quality
``measured``). A GPU without the counter (older GPUs, vGPUs) has its power polled
(``nvmlDeviceGetPowerUsage``, milliwatts) at every :meth:`sample` and integrated with
trapezoids (quality ``sampled``). The interval is +-5 %, NVIDIA's stated accuracy of its
power readings. Only the GPUs in ``CUDA_VISIBLE_DEVICES`` are measured.

The NVML module is injectable, so tests pass a fake:

>>> from dia.measure.gpu.nvidia import NvmlMeter
>>> meter = NvmlMeter(nvml=my_fake_pynvml, indices=[0])  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any

from dia.measure.base import ComponentEnergy, GPUDevice, GPUInfo, Meter

NVML_ACCURACY = 0.05  # +-5 % (nvidia-smi documentation of power.draw)


@functools.lru_cache(maxsize=1)
def load_nvml() -> Any | None:
    """pynvml, initialised once per process; ``None`` when there is no NVIDIA driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:  # no library, no driver, no device: not an error, just no GPUs
        return None


def visible_indices(nvml: Any, env: dict[str, str] | None = None) -> list[int]:
    """NVML indices of the GPUs this process may use (``CUDA_VISIBLE_DEVICES`` respected).

    Entries may be indices or UUIDs (``GPU-...``); an empty value hides every GPU.
    """
    env = dict(os.environ) if env is None else env
    count = int(nvml.nvmlDeviceGetCount())
    spec = env.get("CUDA_VISIBLE_DEVICES")
    if spec is None:
        return list(range(count))
    out: list[int] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if item.isdigit():
            if int(item) >= count:
                break  # CUDA stops at the first invalid entry
            out.append(int(item))
            continue
        for i in range(count):
            uuid = _text(nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(i)))
            if uuid.startswith(item):
                out.append(i)
                break
        else:
            break
    return out


def visible_devices(nvml: Any, env: dict[str, str] | None = None) -> tuple[list[GPUDevice], list[str]]:
    """The GPUs this process may use, as :class:`GPUDevice`, and notes on entries dropped."""
    devices = []
    for i in visible_indices(nvml, env):
        handle = nvml.nvmlDeviceGetHandleByIndex(i)
        devices.append(GPUDevice(i, _text(nvml.nvmlDeviceGetUUID(handle)), _text(nvml.nvmlDeviceGetName(handle))))
    return devices, []


def nvml_problem() -> str | None:
    """Why NVML could not be loaded in this process (``None`` when it loaded or was never tried)."""
    return None


def device_files_present(dev: str = "/dev") -> bool:
    """Whether NVIDIA device files (``/dev/nvidia0``...) exist: a GPU is there for CUDA."""
    return False


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlMeter(Meter):
    """Energy of the given NVIDIA GPUs; the counter where supported, else polled power."""

    def __init__(self, *, nvml: Any, devices: list[GPUDevice] | None = None, indices: list[int] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(name="nvml")
        self._nvml = nvml
        self._clock = clock
        self._handles: dict[int, Any] = {}
        for i in [d.index for d in devices] if devices is not None else list(indices or []):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            self._handles[i] = handle
            self.gpus.append(GPUInfo(index=i, name=_text(nvml.nvmlDeviceGetName(handle))))
        self._start_mj: dict[int, float] = {}
        self._last_mj: dict[int, float] = {}
        self._polled_j: dict[int, float] = {}
        self._last_power: dict[int, tuple[float, float]] = {}  # index -> (t, watts)

    def start(self) -> None:
        with self._lock:
            for gpu in self.gpus:
                handle = self._handles[gpu.index]
                try:
                    mj = float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
                    self._start_mj[gpu.index] = self._last_mj[gpu.index] = mj
                    gpu.method = "counter"
                except Exception:
                    gpu.method = "polled"
                    self._polled_j[gpu.index] = 0.0
                    self.note(f"GPU {gpu.index} ({gpu.name}) has no energy counter: power polled and integrated")
                    self._poll(gpu)
            self.name = "nvml-polled" if any(g.method == "polled" for g in self.gpus) else "nvml"

    def _lose(self, gpu: GPUInfo, exc: BaseException) -> None:
        gpu.method = "lost"
        self.note(f"GPU {gpu.index} ({gpu.name}) stopped answering ({type(exc).__name__}): "
                  "its energy is counted up to its last reading")

    def _poll(self, gpu: GPUInfo) -> None:
        try:
            watts = float(self._nvml.nvmlDeviceGetPowerUsage(self._handles[gpu.index])) / 1000.0
        except Exception as exc:
            self._lose(gpu, exc)
            return
        now = self._clock()
        previous = self._last_power.get(gpu.index)
        if previous is not None:
            t0, w0 = previous
            self._polled_j[gpu.index] += 0.5 * (w0 + watts) * (now - t0)
        self._last_power[gpu.index] = (now, watts)

    def sample(self) -> None:
        with self._lock:
            for gpu in self.gpus:
                if gpu.method == "polled":
                    self._poll(gpu)
                elif gpu.method == "counter":
                    self._read_counter(gpu)

    def _read_counter(self, gpu: GPUInfo) -> None:
        try:
            self._last_mj[gpu.index] = float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handles[gpu.index]))
        except Exception as exc:
            self._lose(gpu, exc)

    def power_w(self) -> float | None:
        """Latest polled power summed over the polled GPUs (``None`` if none is polled)."""
        with self._lock:
            return sum(w for _, w in self._last_power.values()) if self._last_power else None

    def read(self) -> list[ComponentEnergy]:
        with self._lock:
            total_j = 0.0
            qualities = []
            for gpu in self.gpus:
                if gpu.index in self._start_mj:
                    if gpu.method == "counter":
                        self._read_counter(gpu)
                    total_j += max(0.0, self._last_mj[gpu.index] - self._start_mj[gpu.index]) / 1000.0
                    qualities.append("measured")
                elif gpu.index in self._polled_j:
                    total_j += self._polled_j[gpu.index]
                    qualities.append("sampled")
            if not qualities:
                return []
            quality = "sampled" if "sampled" in qualities else "measured"
            return [ComponentEnergy("gpu", total_j, total_j * (1 - NVML_ACCURACY), total_j * (1 + NVML_ACCURACY), quality)]
