"""NVIDIA GPU energy through NVML (nvidia-ml-py).

Each GPU is read at the window edges through its cumulative energy counter
(``nvmlDeviceGetTotalEnergyConsumption``, millijoules, Volta and newer; quality
``measured``). A GPU without the counter (older GPUs, vGPUs) has its power polled
(``nvmlDeviceGetPowerUsage``, milliwatts) at every :meth:`NvmlMeter.sample` *and* every
:meth:`NvmlMeter.read` (so phase edges are polled too) and integrated with trapezoids
(quality ``sampled``). Only the GPUs in ``CUDA_VISIBLE_DEVICES`` are measured; a MIG
instance is measured through its parent GPU.

What the figures mean, and how sure they are:

* **Whole device.** NVML counts the whole board: other processes on the same GPU (and,
  with MIG, the other instances) are included. Every reading says so in a note, and the
  note counts the other processes seen (``nvmlDeviceGetComputeRunningProcesses``).
* **Interval.** Per GPU the larger of +-5 W x window duration and +-5 % of the energy:
  nvidia-smi documents ``power.draw`` as "accurate to within +/- 5 watts" (``nvidia-smi
  --help-query-gpu``), and NVML's own documentation gives +-5 % of the current draw.
* **Update period.** The counter advances every 20-100 ms on recent GPUs (PETSc's
  ``PetscLogGpuEnergyMeter`` manual page; Zeus v0.6.1 release notes report 0 J windows
  for the same reason), so :attr:`NvmlMeter.min_window_s` is 0.1 s and a shorter window,
  or a counter that did not move while the GPU drew power, is flagged.
* **Faults degrade per GPU.** A GPU failing at set-up is dropped with a note, the others
  kept. A failed reading (``TIMEOUT``, ``UNKNOWN``...) keeps the last good one and is
  retried at the next read: the counter is cumulative, so nothing is lost. Only
  ``GPU_IS_LOST`` or :data:`MAX_READ_FAILURES` failures in a row mark a GPU lost: its
  energy is counted up to its last reading and the quality drops to ``estimated``.

The NVML module is injectable, so tests pass a fake:

>>> from dia.measure.gpu.nvidia import NvmlMeter
>>> meter = NvmlMeter(nvml=my_fake_pynvml, indices=[0])  # doctest: +SKIP
>>> gpu_interval_j(100.0, 10.0)  # an idle GPU: +-5 W x 10 s beats 5 % of 100 J
50.0
>>> gpu_interval_j(36_000.0, 60.0)  # 600 W for a minute: 5 % beats +-5 W x 60 s
1800.0
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dia.measure.base import ComponentEnergy, GPUDevice, GPUInfo, Meter
from dia.redact import describe_error

NVML_ACCURACY = 0.05  # +-5 % of the energy (NVML: +-5 % of the current power draw)
NVML_POWER_ACCURACY_W = 5.0  # +-5 W (nvidia-smi --help-query-gpu: power.draw)
# The counter's update period: 20-100 ms on recent GPUs (PETSc, PetscLogGpuEnergyMeter);
# the upper end, so a window this short is always flagged.
COUNTER_UPDATE_PERIOD_S = 0.1
MAX_READ_FAILURES = 3  # failed readings in a row before a GPU counts as lost
_NO_COUNTER_CODES = ("NVML_ERROR_NOT_SUPPORTED", "NVML_ERROR_FUNCTION_NOT_FOUND")

_problem: str | None = None  # why load_nvml() returned None, for nvml_problem()


@functools.lru_cache(maxsize=1)
def load_nvml() -> Any | None:
    """pynvml, initialised once per process; ``None`` when NVML cannot be used here.

    :func:`nvml_problem` then says why (no library, no driver...).
    """
    global _problem
    try:
        import pynvml
    except ImportError:
        _problem = "nvidia-ml-py (pynvml) is not installed"
        return None
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # no library, no driver, no device: not an error, just no GPUs
        _problem = _reason(exc)
        return None
    _problem = None
    return pynvml


def nvml_problem() -> str | None:
    """The one-line reason NVML could not be used in this process; ``None`` when it loaded.

    For example ``"NVML Shared Library Not Found"`` (no driver library in a container) or
    ``"Driver Not Loaded"``.
    """
    if load_nvml() is not None:  # the module global: tests and children patch it
        return None
    return _problem or "NVML could not be loaded"


@functools.lru_cache(maxsize=8)  # asked at every run's start; listing /dev costs ~0.3 ms
def device_files_present(dev: str = "/dev") -> bool:
    """Whether NVIDIA device files (``/dev/nvidia0``...) exist: a GPU is there for CUDA.

    Answered once per folder per process: device files do not come and go during a job.

    >>> device_files_present("/nonexistent")
    False
    """
    try:
        return any(re.fullmatch(r"nvidia\d+", name) for name in os.listdir(dev))
    except OSError:
        return False


def gpu_interval_j(energy_j: float, duration_s: float) -> float:
    """Half-width of one GPU's interval: the larger of +-5 W x duration and +-5 % of the energy."""
    return max(NVML_POWER_ACCURACY_W * max(0.0, duration_s), NVML_ACCURACY * energy_j)


def mig_note(device: GPUDevice) -> str:
    """What a reading seen through MIG instances means."""
    return (f"{device.label} is seen through MIG instance(s): its energy is the whole GPU's, "
            "shared by all its instances")


def visible_devices(nvml: Any, env: dict[str, str] | None = None) -> tuple[list[GPUDevice], list[str]]:
    """The GPUs this process may use, in ``CUDA_VISIBLE_DEVICES`` order, and notes on what was dropped.

    Entries may be NVML indices, ``GPU-...`` UUIDs (or prefixes), ``MIG-...`` UUIDs and the
    old ``MIG-GPU-<uuid>/<gi>/<ci>`` form; an empty value hides every GPU. A MIG instance
    gives its parent GPU (several instances of one GPU give it once, all in ``mig``). As
    CUDA does, an entry that names no GPU hides itself and every entry after it. A GPU
    that fails at set-up is dropped with a note; nothing here raises for one bad GPU.
    """
    env = dict(os.environ) if env is None else env
    notes: list[str] = []
    try:
        count = int(nvml.nvmlDeviceGetCount())
    except Exception as exc:
        return [], [f"NVML could not count the GPUs ({_reason(exc)}): no GPU energy measured"]
    spec = env.get("CUDA_VISIBLE_DEVICES")
    wanted: dict[int, list[str]] = {}  # NVML index -> MIG UUIDs seen of it, in CUDA's order
    if spec is None:
        wanted = {i: [] for i in range(count)}
    else:
        uuids = _Uuids(nvml, count)
        items = [s.strip() for s in spec.split(",")]
        for position, item in enumerate(items, start=1):
            if not item:
                continue
            try:
                found = _resolve(nvml, item, count, uuids)
            except _Unresolved as why:
                notes.append(f"CUDA_VISIBLE_DEVICES entry {position} ({_kind(item)}) could not be resolved "
                             f"({why}): no energy measured for it")
                continue
            if found is None:
                hidden = "it and the entries after it are" if position < len(items) else "it is"
                notes.append(f"CUDA_VISIBLE_DEVICES entry {position} ({_kind(item)}) names no GPU here: "
                             f"{hidden} not visible, as CUDA does")
                break
            index, mig = found
            migs = wanted.setdefault(index, [])
            if mig is not None and mig not in migs:
                migs.append(mig)
    devices: list[GPUDevice] = []
    for index, migs in wanted.items():
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            device = GPUDevice(index, _text(nvml.nvmlDeviceGetUUID(handle)), _text(nvml.nvmlDeviceGetName(handle)),
                               tuple(migs))
        except Exception as exc:
            notes.append(_setup_note(f"GPU {index}", exc))
            continue
        devices.append(device)
        if device.mig:
            notes.append(mig_note(device))
    return devices, notes


def visible_indices(nvml: Any, env: dict[str, str] | None = None) -> list[int]:
    """NVML indices of the GPUs this process may use (:func:`visible_devices` without notes)."""
    return [d.index for d in visible_devices(nvml, env)[0]]


class _Unresolved(Exception):
    """An entry NVML failed on (not one that names no GPU)."""


class _Uuids:
    """``GPU-`` UUIDs by NVML index, read once and only when an entry needs them."""

    def __init__(self, nvml: Any, count: int) -> None:
        self._nvml, self._count = nvml, count
        self._by_index: dict[int, str] | None = None

    def index_of(self, prefix: str) -> int | None:
        if self._by_index is None:
            self._by_index = {}
            for i in range(self._count):
                try:
                    self._by_index[i] = _text(self._nvml.nvmlDeviceGetUUID(self._nvml.nvmlDeviceGetHandleByIndex(i)))
                except Exception:  # a broken GPU cannot be the one named
                    continue
        return next((i for i, uuid in self._by_index.items() if uuid.startswith(prefix)), None)


def _resolve(nvml: Any, item: str, count: int, uuids: _Uuids) -> tuple[int, str | None] | None:
    """(NVML index, MIG UUID or None) of one ``CUDA_VISIBLE_DEVICES`` entry; ``None``: no such GPU."""
    if item.isdigit():
        return (int(item), None) if int(item) < count else None
    if item.startswith("GPU-"):
        index = uuids.index_of(item)
        return (index, None) if index is not None else None
    if item.startswith("MIG-GPU-"):  # the pre-R470 form: MIG-GPU-<parent uuid>/<gi>/<ci>
        index = uuids.index_of(item[len("MIG-"):].split("/")[0])
        return (index, item) if index is not None else None
    if item.startswith("MIG-"):
        try:
            handle = nvml.nvmlDeviceGetHandleByUUID(item)
        except Exception as exc:
            if _code(exc) in (_const(nvml, "NVML_ERROR_NOT_FOUND"), _const(nvml, "NVML_ERROR_INVALID_ARGUMENT")):
                return None
            raise _Unresolved(_reason(exc)) from exc
        try:
            if nvml.nvmlDeviceIsMigDeviceHandle(handle):
                handle = nvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(handle)
            return int(nvml.nvmlDeviceGetIndex(handle)), item
        except Exception as exc:
            raise _Unresolved(_reason(exc)) from exc
    return None


def _kind(item: str) -> str:
    """How notes name an entry: its index, or the kind of UUID (UUIDs stay out of notes)."""
    if item.isdigit():
        return f"index {item}"
    if item.startswith("MIG-"):
        return "a MIG UUID"
    if item.startswith("GPU-"):
        return "a GPU UUID"
    return "not an index or UUID"


def _setup_note(label: str, exc: BaseException) -> str:
    return f"{label} failed at set-up ({_reason(exc)}): dropped, its energy is not measured"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _code(exc: BaseException) -> Any:
    return getattr(exc, "value", None)  # pynvml.NVMLError carries its NVML_ERROR_* code here


def _const(nvml: Any, name: str) -> Any:
    return getattr(nvml, name, object())  # a fake without the constant matches nothing


def _reason(exc: BaseException) -> str:
    """One safe line: NVML's own message ("Timeout", "GPU is lost"), else the exception's."""
    if _code(exc) is not None and str(exc).strip():
        return describe_error(exc).partition(": ")[2] or type(exc).__name__
    return describe_error(exc)


def _own_process_tree() -> set[int]:
    """This process and its descendants (psutil); the pid alone if psutil cannot tell."""
    pids = {os.getpid()}
    try:
        import psutil

        pids |= {child.pid for child in psutil.Process().children(recursive=True)}
    except Exception:  # informative only: the own pid is enough
        pass
    return pids


@dataclass
class _State:
    """What the meter knows of one GPU between reads (energies in joules, times in seconds)."""

    info: GPUInfo
    device: GPUDevice
    handle: Any
    start_t: float = 0.0
    last_t: float = 0.0  # time of the last good reading
    last_mj: float | None = None  # the counter's last good reading, millijoules
    energy_j: float = 0.0  # counted since the start
    power: tuple[float, float] | None = None  # last good power reading: (t, watts)
    failures: int = 0  # failed readings in a row
    others: set[int] = field(default_factory=set)  # other processes' pids seen (never in notes)

    @property
    def answered(self) -> bool:
        return self.last_mj is not None or self.power is not None


class NvmlMeter(Meter):
    """Energy of the given NVIDIA GPUs; the counter where supported, else polled power.

    ``devices`` (from :func:`visible_devices`) or ``indices`` (NVML indices) name the GPUs;
    ``clock`` gives seconds; ``own_pids`` returns the pids of this run's processes (default:
    this process and its descendants), so other processes on a GPU can be counted.
    """

    def __init__(self, *, nvml: Any, devices: list[GPUDevice] | None = None, indices: list[int] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 own_pids: Callable[[], set[int]] | None = None) -> None:
        super().__init__(name="nvml")
        self.min_window_s = COUNTER_UPDATE_PERIOD_S
        self._nvml = nvml
        self._clock = clock
        self._own_pids = own_pids or _own_process_tree
        self._states: list[_State] = []
        self._start_t: float | None = None
        self._window_notes: list[str] = []  # about the latest read only: replaced at each read
        self._process_notes: dict[int, str] = {}
        for device in self._devices(devices, indices):
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(device.index)
            except Exception as exc:
                self.note(_setup_note(device.label, exc))
                continue
            info = GPUInfo(index=device.index, name=device.name, uuid=device.uuid)
            self._states.append(_State(info, device, handle))
            self.gpus.append(info)
            if device.mig:
                self.note(mig_note(device))

    def _devices(self, devices: list[GPUDevice] | None, indices: Iterable[int] | None) -> list[GPUDevice]:
        if devices is not None:
            return list(devices)
        out = []
        for i in indices or []:
            try:
                handle = self._nvml.nvmlDeviceGetHandleByIndex(i)
                name = _text(self._nvml.nvmlDeviceGetName(handle))
            except Exception as exc:
                self.note(_setup_note(f"GPU {i}", exc))
                continue
            try:
                uuid = _text(self._nvml.nvmlDeviceGetUUID(handle))
            except Exception:  # the UUID only identifies; the GPU is still measured
                uuid = ""
            out.append(GPUDevice(i, uuid, name))
        return out

    # -- set-up -------------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            now = self._start_t = self._clock()
            for state in list(self._states):
                # A fresh window: nothing carried over from an earlier start of this meter.
                state.start_t = state.last_t = now
                state.last_mj, state.power, state.energy_j, state.failures = None, None, 0.0, 0
                self._start_one(state, now)
            if self._states:
                listed = ", ".join(f"GPU {s.info.index}" for s in self._states)
                self.note(f"NVML energy is whole-device: it includes other processes on {listed}")
            self.name = "nvml-polled" if any(s.info.method == "polled" for s in self._states) else "nvml"
            self._check_processes()

    def _start_one(self, state: _State, now: float) -> None:
        gpu, last_error = state.info, None
        for _ in range(MAX_READ_FAILURES):
            try:
                state.last_mj = float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(state.handle))
                gpu.method = "counter"
                return
            except Exception as exc:
                last_error = exc
                if self._no_counter(exc):
                    break
                if _code(exc) == _const(self._nvml, "NVML_ERROR_GPU_IS_LOST"):
                    break
        assert last_error is not None
        if not self._no_counter(last_error):
            self._drop(state, last_error)
            return
        gpu.method = "polled"
        self.note(f"{state.device.label} has no energy counter: power polled and integrated")
        self._poll(state, now)

    def _no_counter(self, exc: BaseException) -> bool:
        return _code(exc) in tuple(_const(self._nvml, name) for name in _NO_COUNTER_CODES)

    def _drop(self, state: _State, exc: BaseException) -> None:
        self._states.remove(state)
        self.gpus.remove(state.info)
        self.note(_setup_note(state.device.label, exc))

    # -- readings -----------------------------------------------------------------------------
    def _failed(self, state: _State, exc: BaseException) -> None:
        """A failed reading: retried at the next read unless the GPU is lost (or never answered)."""
        gpu = state.info
        state.failures += 1
        if self._no_counter(exc) and gpu.method == "polled":  # no power reading at all, ever
            state.failures = MAX_READ_FAILURES
        lost = _code(exc) == _const(self._nvml, "NVML_ERROR_GPU_IS_LOST")
        if not lost and state.failures < MAX_READ_FAILURES:
            return  # transient: the last good reading stands, the next read catches up
        label, why = state.device.label, _reason(exc)
        if not state.answered:
            gpu.method = "unavailable"
            self.note(f"{label} never answered a power reading ({why}): its energy is unavailable, not counted")
            return
        gpu.method = "lost"
        self.note(f"{label} stopped answering and is lost after {state.failures} failed reading(s) ({why}): "
                  "its energy is counted up to its last reading")

    def _read_counter(self, state: _State, now: float) -> None:
        try:
            mj = float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(state.handle))
        except Exception as exc:
            self._failed(state, exc)
            return
        last = state.last_mj if state.last_mj is not None else mj
        # A counter that went back was reset (driver reload): it counts again from zero.
        state.energy_j += (mj - last if mj >= last else mj) / 1000.0
        state.last_mj, state.last_t, state.failures = mj, now, 0

    def _poll(self, state: _State, now: float) -> None:
        try:
            watts = float(self._nvml.nvmlDeviceGetPowerUsage(state.handle)) / 1000.0
        except Exception as exc:
            self._failed(state, exc)
            return
        if state.power is None:
            # The first answer after failed ones: the window's start is filled at this power.
            state.energy_j += watts * max(0.0, now - state.start_t)
        else:
            t0, w0 = state.power
            state.energy_j += 0.5 * (w0 + watts) * max(0.0, now - t0)
        state.power, state.last_t, state.failures = (now, watts), now, 0

    def _advance(self, now: float) -> None:
        for state in self._states:
            if state.info.method == "counter":
                self._read_counter(state, now)
            elif state.info.method == "polled":
                self._poll(state, now)

    def sample(self) -> None:
        with self._lock:
            if self._start_t is None:
                return
            self._advance(self._clock())
            self._check_processes()

    def stop(self) -> list[ComponentEnergy]:
        """The final reading; a GPU whose last readings fail is retried, then counted as lost."""
        self.sample()
        readings = self.read()
        for _ in range(MAX_READ_FAILURES - 1):
            if not any(s.failures and s.info.method in ("counter", "polled") for s in self._states):
                break
            readings = self.read()
        return readings

    def power_w(self) -> float | None:
        """Latest polled power summed over the polled GPUs, in watts (``None`` if none is polled)."""
        with self._lock:
            polled = [s.power[1] for s in self._states if s.power is not None and s.info.method == "polled"]
            return sum(polled) if polled else None

    def read(self) -> list[ComponentEnergy]:
        with self._lock:
            if self._start_t is None:
                return []
            now = self._clock()
            self._advance(now)  # polled GPUs too: a phase edge is a reading point
            total_j = low_j = high_j = 0.0
            methods = []
            for state in self._states:
                method = state.info.method
                if method == "unavailable" or not state.answered:
                    continue
                energy_j = state.energy_j
                half_j = gpu_interval_j(energy_j, state.last_t - state.start_t)
                total_j += energy_j
                low_j += max(0.0, energy_j - half_j)
                high_j += energy_j + half_j
                methods.append(method)
            high_j += self._check_window(now)
            if not methods:
                return []
            incomplete = any(s.info.method in ("lost", "unavailable") for s in self._states)
            quality = "estimated" if incomplete else "sampled" if "polled" in methods else "measured"
            return [ComponentEnergy("gpu", total_j, low_j, high_j, quality)]

    # -- notes on what the figure means -------------------------------------------------------
    def _check_window(self, now: float) -> float:
        """Flag a window the counter cannot resolve; joules to add to the high end."""
        for text in self._window_notes:
            if text in self.notes:
                self.notes.remove(text)
        self._window_notes = []
        window_s = now - self._start_t if self._start_t is not None else 0.0
        counters = [s for s in self._states if s.info.method == "counter"]
        if not counters:
            return 0.0
        notes, extra_j = [], 0.0
        if 0.0 < window_s < self.min_window_s:
            notes.append(f"window of {window_s:.2g} s is shorter than the GPU energy counter's update period "
                         f"(~{self.min_window_s:g} s): GPU energy under-resolved")
        for state in counters:
            if state.energy_j > 0.0 or state.last_t <= state.start_t:
                continue
            watts = self._power_now(state)
            if (watts or 0.0) > 0.0 or window_s > self.min_window_s:
                # Between 0 J and what the GPU drew over the window: the high end says so.
                extra_j += (watts or 0.0) * window_s
                drew = f" while it drew {watts:.0f} W" if watts else ""
                notes.append(f"{state.device.label}: energy counter did not advance over {window_s:.2g} s{drew}: "
                             "GPU energy under-resolved")
        for text in notes:
            if text not in self.notes:
                self.notes.append(text)
                self._window_notes.append(text)
        return extra_j

    def _power_now(self, state: _State) -> float | None:
        try:
            return float(self._nvml.nvmlDeviceGetPowerUsage(state.handle)) / 1000.0
        except Exception:  # informative only
            return None

    def _check_processes(self) -> None:
        """Count other processes on each GPU (at start and sampler ticks; errors ignored)."""
        own: set[int] | None = None
        for state in self._states:
            if state.info.method in ("lost", "unavailable"):
                continue
            try:
                pids = {int(p.pid) for p in self._nvml.nvmlDeviceGetComputeRunningProcesses(state.handle)}
            except Exception:  # informative only
                continue
            if not pids:
                continue
            if own is None:
                try:
                    own = set(self._own_pids())
                except Exception:
                    own = {os.getpid()}
            others = pids - own
            if others <= state.others:
                continue
            state.others |= others
            n = len(state.others)
            text = (f"{state.device.label}: {n} other process{'es' if n > 1 else ''} seen on it during the run: "
                    "the whole-device energy includes theirs")
            old = self._process_notes.get(state.info.index)
            if old in self.notes:
                self.notes[self.notes.index(old)] = text
            else:
                self.notes.append(text)
            self._process_notes[state.info.index] = text
