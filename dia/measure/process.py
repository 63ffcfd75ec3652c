"""CPU time and resident memory of this process and its descendants (the process tree).

Every CPU second is counted once: a live process contributes its own time, and a
process that exited and was reaped has moved its time into its parent's ``children_*``
fields, which are counted too.

In a distributed job the trees of the ranks must not overlap: Lightning's own DDP
launcher starts rank 1 as a *child* of rank 0, so rank 0's tree would count rank 1's CPU
as well as rank 1 does. :class:`OtherRanks` tells such descendants apart (their
environment names another rank) and the tree leaves them out, with their subtrees.

>>> from dia.measure.process import ProcessTree
>>> ProcessTree().usage().cpu_s >= 0
True
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# The variables a launcher gives each rank its number in: a descendant whose value differs
# from ours is another rank of the job (a data-loader worker inherits ours).
RANK_VARIABLES: tuple[str, ...] = ("LOCAL_RANK", "RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK")


@dataclass(frozen=True)
class Usage:
    cpu_s: float  # user + system seconds of the whole tree so far
    rss_bytes: float  # resident memory of the tree now


class OtherRanks:
    """Whether a process is another rank of this job: ``skip`` for :class:`ProcessTree`.

    A process is another rank when its environment holds one of :data:`RANK_VARIABLES`
    with another value than this process's (``ours``: this process's variables, and for
    those it lacks, its own rank numbers). Each pid is looked at once (reading a process's
    environment costs a file read); a process whose environment cannot be read
    (another user's, or gone) is not skipped. Never raises.

    >>> skip = OtherRanks({"LOCAL_RANK": "0"})
    >>> skip.is_other({"LOCAL_RANK": "1"}), skip.is_other({"LOCAL_RANK": "0", "PATH": "/bin"})
    (True, False)
    """

    def __init__(self, ours: Mapping[str, str]) -> None:
        self._ours = {k: str(v) for k, v in ours.items() if k in RANK_VARIABLES}
        self._seen: dict[int, bool] = {}

    @classmethod
    def of(cls, rank: int, local_rank: int, env: Mapping[str, str] | None = None) -> OtherRanks:
        """This process's values: its variables, else ``local_rank`` / ``rank`` where it has none."""
        env = os.environ if env is None else env
        ours = {name: env.get(name, str(local_rank if name == "LOCAL_RANK" else rank)) for name in RANK_VARIABLES}
        return cls(ours)

    def is_other(self, environ: Mapping[str, str]) -> bool:
        """Whether a process with this environment is another rank."""
        for name in RANK_VARIABLES:
            value = environ.get(name)
            if value is not None and name in self._ours and value.strip() != self._ours[name].strip():
                return True
        return False

    def __call__(self, pid: int) -> bool:
        if pid in self._seen:
            return self._seen[pid]
        try:
            import psutil

            other = self.is_other(psutil.Process(pid).environ())
        except Exception:  # AccessDenied, gone, no psutil support: count it, as before
            other = False
        self._seen[pid] = other
        return other


class ProcessTree:
    """Reads the usage of ``pid`` (default: this process) and all its descendants.

    ``skip(pid)`` leaves a descendant and its whole subtree out (e.g. :class:`OtherRanks`).
    """

    def __init__(self, pid: int | None = None, *, skip: Callable[[int], bool] | None = None) -> None:
        import psutil

        self._psutil = psutil
        self._root = psutil.Process(pid or os.getpid())
        self._skip = skip
        self._max_cpu_s = 0.0

    def _skipped(self, pid: int) -> bool:
        if self._skip is None:
            return False
        try:
            return bool(self._skip(pid))
        except Exception:  # a faulty predicate must not lose the tree
            return False

    def _descendants(self) -> list[Any]:
        pids = _child_pids_proc(self._root.pid, self._skipped if self._skip is not None else None)
        if pids is None:  # no /proc children files: psutil scans every process (ms)
            return self._descendants_psutil()
        out = []
        for pid in pids:
            try:
                out.append(self._psutil.Process(pid))
            except self._psutil.Error:
                continue
        return out

    def _descendants_psutil(self) -> list[Any]:
        if self._skip is None:
            try:
                return list(self._root.children(recursive=True))
            except self._psutil.Error:
                return []
        out: list[Any] = []
        frontier = [self._root]
        while frontier:
            proc = frontier.pop()
            try:
                kids = proc.children()
            except self._psutil.Error:
                continue
            kids = [k for k in kids if not self._skipped(k.pid)]
            out += kids
            frontier += kids
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


def _child_pids_proc(root: int, skip: Callable[[int], bool] | None = None) -> list[int] | None:
    """Descendants of ``root`` from ``/proc/<pid>/task/<tid>/children`` (Linux, fast).

    ``skip(pid)`` leaves a descendant out with its subtree. ``None`` where the kernel does
    not offer these files, so the caller falls back.
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
            if skip is not None:
                kids = [k for k in kids if not skip(k)]
            out += kids
            frontier += kids
    return out
