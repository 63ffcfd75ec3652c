"""CPU time and resident memory of this process and its descendants (the process tree).

Every CPU second is counted once: a live process contributes its own time, and a
process that exited and was reaped has moved its time into its parent's ``children_*``
fields, which are counted too.

>>> from dia.measure.process import ProcessTree
>>> ProcessTree().usage().cpu_s >= 0
True
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Usage:
    cpu_s: float  # user + system seconds of the whole tree so far
    rss_bytes: float  # resident memory of the tree now


class ProcessTree:
    """Reads the usage of ``pid`` (default: this process) and all its descendants."""

    def __init__(self, pid: int | None = None) -> None:
        import psutil

        self._psutil = psutil
        self._root = psutil.Process(pid or os.getpid())
        self._max_cpu_s = 0.0

    def _descendants(self) -> list[Any]:
        pids = _child_pids_proc(self._root.pid)
        if pids is None:  # no /proc children files: psutil scans every process (ms)
            try:
                return list(self._root.children(recursive=True))
            except self._psutil.Error:
                return []
        out = []
        for pid in pids:
            try:
                out.append(self._psutil.Process(pid))
            except self._psutil.Error:
                continue
        return out

    def usage(self) -> Usage:
        procs: list[Any] = [self._root, *self._descendants()]
        cpu_s = 0.0
        rss = 0.0
        for proc in procs:
            try:
                with proc.oneshot():
                    t = proc.cpu_times()
                    rss += proc.memory_info().rss
            except self._psutil.Error:  # exited between listing and reading
                continue
            cpu_s += t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)
        # A child that exited but is not reaped yet drops out for a moment: never go back.
        self._max_cpu_s = max(self._max_cpu_s, cpu_s)
        return Usage(cpu_s=self._max_cpu_s, rss_bytes=rss)


def _child_pids_proc(root: int) -> list[int] | None:
    """Descendants of ``root`` from ``/proc/<pid>/task/<tid>/children`` (Linux, fast).

    ``None`` where the kernel does not offer these files, so the caller falls back.
    """
    out: list[int] = []
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            if pid == root:
                return None
            continue  # exited meanwhile
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as fh:
                    kids = [int(x) for x in fh.read().split()]
            except FileNotFoundError:
                if pid == root and not os.path.exists(f"/proc/{pid}/task/{tid}"):
                    continue  # the thread ended between listing and reading
                if pid == root:
                    return None  # kernel without CONFIG_PROC_CHILDREN
                continue
            except (OSError, ValueError):
                continue
            out += kids
            frontier += kids
    return out
