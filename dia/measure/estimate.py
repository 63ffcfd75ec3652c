"""Estimated CPU and RAM energy for machines without readable energy counters.

CPU power follows CodeCarbon's load model, ``P = TDP x (0.1 + 0.9 u^3)``, where ``u``
is the process tree's share of the usable CPUs over each sampling interval (psutil) and
the TDP comes from CodeCarbon's table of about 4,900 CPUs (``cpu_power.csv``, read
lazily once per process). A CPU not in the table counts 4 W per logical CPU, and 85 W
when even the CPU count is unknown (CodeCarbon's defaults).

The interval reflects the model's uncertainty:

* load curve: low ``TDP_low x (0.05 + 0.9 u^3)`` (little idle power), high
  ``TDP_high x (0.3 + 0.7 u)`` (high idle power, linear in load);
* TDP: a table match gives ``[0.8, 1.2] x TDP`` (turbo runs above TDP, light loads below);
  the per-CPU fallback gives ``[0.5, 2] x``.

RAM power charges the run its share of the machine's memory, not the whole machine: the
central value is 3/8 W per GB (eco2AI's figure) of the memory the process tree holds
(its resident set, RSS), at least :data:`RAM_MIN_GB` (0.5 GB, about what a Python process
with an ML stack loaded holds) and at most the installed RAM. The low end is the RSS
itself, without the minimum. The high end is the whole machine's RAM power, what a run
holding the machine alone would be charged: the larger of 3/8 W per installed GB and
CodeCarbon v3's ``5 W per 8 GB module, at least 10 W``. So N concurrent runs are
together charged about what their memory holds, never N times the machine's RAM.

The ranks of a distributed job on one node share its CPUs and RAM: each rank's meter is
built with ``host_share=False`` except local rank 0's. Such a rank counts only its own
process tree's load, the dynamic part of the curve (``TDP x 0.9 u^3``; low
``TDP_low x 0.9 u^3``; high ``TDP_high x 0.7 u``), and its resident memory without the
machine-wide high end. Local rank 0 counts the idle share (``0.1 TDP``; low ``0.05``,
high ``0.3``) once for the node, its own load, and the RAM as above. Adding the ranks
counts the idle power once and each rank's load once. The cubic curve is applied to each
rank's own load, so the sum is at most what the curve gives for the ranks' summed load;
the high end is linear in load, so it adds up exactly.

>>> from dia.measure.estimate import cpu_tdp_w
>>> cpu_tdp_w("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz")
150.0
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import math
import re
import time
from collections.abc import Callable
from pathlib import Path

from dia.measure.base import ComponentEnergy, Meter
from dia.measure.hardware import host_info
from dia.measure.process import ProcessTree, Usage

WATTS_PER_CPU_UNKNOWN = 4.0  # CodeCarbon: unknown CPU model
WATTS_NOTHING_KNOWN = 85.0  # CodeCarbon: nothing detectable
RAM_W_PER_GB = 3.0 / 8.0  # eco2AI
RAM_W_PER_MODULE = 5.0  # CodeCarbon v3, one module per 8 GB
RAM_MIN_W = 10.0  # CodeCarbon v3 minimum
GB_PER_MODULE = 8.0
RAM_MIN_GB = 0.5  # floor of a run's share: an interpreter with the ML stack loaded


def _normalise(name: str) -> str:
    s = re.sub(r"\((r|tm|c)\)", " ", name, flags=re.IGNORECASE)
    s = s.split("@")[0]
    s = re.sub(r"\b(cpu|processor|\d+-core|with radeon.*|graphics)\b", " ", s, flags=re.IGNORECASE)
    return " ".join(s.lower().split())


@functools.lru_cache(maxsize=1)
def _tdp_table() -> dict[str, float]:
    """CodeCarbon's CPU TDP table, normalised names -> watts (empty if not installed)."""
    spec = importlib.util.find_spec("codecarbon")  # locate without importing it (slow)
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "hardware" / "cpu_power.csv"
    table: dict[str, float] = {}
    try:
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                try:
                    table[_normalise(row["Name"])] = float(row["TDP"])
                except (KeyError, TypeError, ValueError):
                    continue
    except OSError:
        return {}
    return table


@functools.lru_cache(maxsize=64)
def cpu_tdp_w(cpu_model: str | None) -> float | None:
    """The TDP in watts of a CPU model from CodeCarbon's table, or ``None`` if unknown.

    An exact match of the normalised name wins; else the longest table name whose words
    (including its model number) all appear in the CPU's name.
    """
    if not cpu_model:
        return None
    key = _normalise(cpu_model)
    table = _tdp_table()
    if key in table:
        return table[key]
    words = set(key.split())
    best: tuple[int, float] | None = None
    for name, tdp in table.items():
        parts = name.split()
        if not any(ch.isdigit() for ch in name) or not words.issuperset(parts):
            continue
        if best is None or len(name) > best[0]:
            best = (len(name), tdp)
    return best[1] if best else None


class EstimateMeter(Meter):
    """CPU and RAM energy from TDP x load and installed RAM; quality ``estimated``.

    ``usage`` returns the process tree's cumulative CPU seconds and RSS (injectable for
    tests); ``cpu_count``, ``cpu_model`` and ``ram_gb`` default to the detected host.
    ``host_share=False`` (every rank of a node but local rank 0) leaves out the node's idle
    CPU power and the machine-wide RAM high end, which local rank 0 counts once.
    """

    def __init__(self, *, cpu: bool = True, ram: bool = True, usage: Callable[[], Usage] | None = None,
                 cpu_model: str | None = None, cpu_count: int | None = None, ram_gb: float | None = None,
                 clock: Callable[[], float] = time.monotonic, host_share: bool = True) -> None:
        super().__init__(name="estimate")
        host = host_info()
        self.measure_cpu, self.measure_ram = cpu, ram
        self.host_share = host_share
        self._usage = usage or ProcessTree().usage
        self._clock = clock
        self.cpu_count = cpu_count or host.cpu_count
        model = cpu_model if cpu_model is not None else host.cpu_model
        self.ram_gb = ram_gb if ram_gb is not None else host.ram_gb
        tdp = cpu_tdp_w(model)
        if tdp is not None:
            self.tdp_w, self.tdp_range = tdp, (0.8 * tdp, 1.2 * tdp)
            self.tdp_source = f"TDP {tdp:g} W of {model} (CodeCarbon CPU table)"
        elif self.cpu_count:
            tdp = WATTS_PER_CPU_UNKNOWN * self.cpu_count
            self.tdp_w, self.tdp_range = tdp, (0.5 * tdp, 2.0 * tdp)
            self.tdp_source = f"CPU {model or 'unknown'} not in the TDP table: {WATTS_PER_CPU_UNKNOWN:g} W x {self.cpu_count} CPUs"
        else:  # pragma: no cover - cpu_count is always >= 1 on supported platforms
            self.tdp_w, self.tdp_range = WATTS_NOTHING_KNOWN, (0.5 * WATTS_NOTHING_KNOWN, 2.0 * WATTS_NOTHING_KNOWN)
            self.tdp_source = f"nothing detectable: {WATTS_NOTHING_KNOWN:g} W"
        self._cpu_j = [0.0, 0.0, 0.0]  # value, low, high
        self._ram_j = [0.0, 0.0, 0.0]
        self._last_t = 0.0
        self._last: Usage = Usage(0.0, 0.0)

    # -- power models ---------------------------------------------------------------------

    def cpu_power_w(self, utilisation: float) -> tuple[float, float, float]:
        """CPU watts (value, low, high) at a utilisation in [0, 1].

        Without the host share, only the load's part: the idle power is local rank 0's.

        >>> m = EstimateMeter(usage=lambda: Usage(0.0, 0.0), cpu_model="x", cpu_count=1, host_share=False)
        >>> m.cpu_power_w(0.0)
        (0.0, 0.0, 0.0)
        """
        u = min(1.0, max(0.0, utilisation))
        idle = (0.1, 0.05, 0.3) if self.host_share else (0.0, 0.0, 0.0)
        value = self.tdp_w * (idle[0] + 0.9 * u ** 3)
        low = self.tdp_range[0] * (idle[1] + 0.9 * u ** 3)
        high = self.tdp_range[1] * (idle[2] + 0.7 * u)
        return value, low, high

    def ram_power_w(self, rss_bytes: float) -> tuple[float, float, float]:
        """RAM watts (value, low, high): the run's share, from the tree's resident memory.

        value: ``RAM_W_PER_GB x RSS`` (GB), at least ``RAM_MIN_GB`` and at most the installed
        RAM; low: the RSS without the minimum; high: the whole machine's RAM power
        (:meth:`machine_ram_power_w`), what an exclusive run would be charged; without the
        host share, the value itself (local rank 0 carries the machine-wide bound).

        >>> m = EstimateMeter(usage=lambda: Usage(0.0, 0.0), cpu_model="x", cpu_count=1, ram_gb=64.0)
        >>> m.ram_power_w(4e9)
        (1.5, 1.5, 40.0)
        """
        rss_gb = max(0.0, rss_bytes) / 1e9
        installed = self.ram_gb or math.inf
        share_gb = min(installed, max(rss_gb, RAM_MIN_GB))
        value = RAM_W_PER_GB * share_gb
        low = RAM_W_PER_GB * min(installed, rss_gb)
        high = max(self.machine_ram_power_w(), value) if self.host_share else value
        return value, low, high

    def machine_ram_power_w(self) -> float:
        """The whole installed RAM's power: the larger of eco2AI's and CodeCarbon v3's figures.

        Unknown installed RAM counts as CodeCarbon's minimum, doubled (10 W x 2).
        """
        if not self.ram_gb:
            return 2.0 * RAM_MIN_W
        modules = math.ceil(self.ram_gb / GB_PER_MODULE)
        return max(RAM_MIN_W, RAM_W_PER_MODULE * modules, RAM_W_PER_GB * self.ram_gb)

    # -- window ---------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            self._last = self._usage()
            self._last_t = self._clock()
            if self.host_share:
                self.note(f"CPU and RAM energy estimated: {self.tdp_source}, load model TDP x (0.1 + 0.9 u^3); "
                          f"RAM {RAM_W_PER_GB:g} W/GB of the run's resident memory (at least {RAM_MIN_GB:g} GB;"
                          f" high end: all {self.ram_gb or 0:.1f} GB installed)")
            else:
                self.note(f"CPU and RAM energy estimated for this rank's processes only: {self.tdp_source}, "
                          f"its load's part TDP x 0.9 u^3; RAM {RAM_W_PER_GB:g} W/GB of its resident memory "
                          f"(at least {RAM_MIN_GB:g} GB), no idle share")

    def _advance(self) -> tuple[list[float], list[float]]:
        """Integrate up to now and return the totals; the caller commits them."""
        now, usage = self._clock(), self._usage()
        dt = now - self._last_t
        cpu, ram = list(self._cpu_j), list(self._ram_j)
        if dt > 0:
            u = (usage.cpu_s - self._last.cpu_s) / (dt * self.cpu_count)
            rss = max(usage.rss_bytes, self._last.rss_bytes)
            for i, p in enumerate(self.cpu_power_w(u)):
                cpu[i] += p * dt
            for i, p in enumerate(self.ram_power_w(rss)):
                ram[i] += p * dt
        self._pending = (now, usage)
        return cpu, ram

    def sample(self) -> None:
        with self._lock:
            self._cpu_j, self._ram_j = self._advance()
            self._last_t, self._last = self._pending

    def read(self) -> list[ComponentEnergy]:
        # A read commits like a sample: the load curve is convex in u, so integrating a
        # longer interval at its average load could give less energy than an earlier read.
        # Committing keeps successive readings monotonic.
        with self._lock:
            self._cpu_j, self._ram_j = self._advance()
            self._last_t, self._last = self._pending
            cpu, ram = list(self._cpu_j), list(self._ram_j)
        return self._emit(cpu, ram)

    def stop(self) -> list[ComponentEnergy]:
        return self.read()

    def _emit(self, cpu: list[float], ram: list[float]) -> list[ComponentEnergy]:
        out = []
        if self.measure_cpu:
            out.append(ComponentEnergy("cpu", cpu[0], cpu[1], cpu[2], "estimated"))
        if self.measure_ram:
            out.append(ComponentEnergy("ram", ram[0], ram[1], ram[2], "estimated"))
        return out
