"""Host hardware, detected once per process (CPU model, logical CPUs, installed RAM).

>>> from dia.measure.hardware import host_info
>>> host_info().cpu_count >= 1
True
"""

from __future__ import annotations

import functools
import os
import platform
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class HostInfo:
    cpu_model: str | None
    cpu_count: int  # logical CPUs this process may use
    ram_gb: float | None
    hostname: str


@functools.lru_cache(maxsize=1)
def host_info() -> HostInfo:
    """The host's CPU model, usable logical CPUs and RAM (cached: detection costs ms)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    ram_gb: float | None
    try:
        import psutil

        ram_gb = psutil.virtual_memory().total / 1e9
    except Exception:  # no psutil support on this platform: RAM stays unknown
        ram_gb = None
    return HostInfo(cpu_model=_cpu_model(), cpu_count=max(1, cpus), ram_gb=ram_gb,
                    hostname=socket.gethostname())


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return platform.processor() or None
